"""AWS integration: ``romana-aws`` publishes topology groups to VPC route tables.

The plan is pure (:mod:`romana.core.vpcroutes`); here are its EC2 adapter (:mod:`.ec2`, the
only importer of boto3), the record of owned routes (:mod:`.owned`), one reconcile
(:mod:`.publisher`) and the process (:mod:`.main`). See docs/routing.md.
"""
