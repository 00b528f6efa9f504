data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # `project = wikiguard` is how the wikiguard CLI recognises what it may touch;
  # extra_tags cannot override it because it is merged last.
  tags = merge(var.extra_tags, { project = "wikiguard" })

  # Topic names are part of the contract with the code (WIKIGUARD_KAFKA_TOPIC).
  kafka_topic     = "cleaned_events"
  kafka_dlq_topic = var.kafka_dlq_topic

  glue_database = "wikiguard_lakehouse"
}
