# Kafka between the ingest (producer) and the bronze Spark job (consumer).
# Clients reach it only over TLS with IAM authentication (port 9098).

locals {
  # With 2 brokers, min.insync.replicas = 2 would stop all writes during every
  # MSK rolling patch; with 3 brokers keep one broker of slack.
  msk_replication = min(var.msk_broker_count, 3)
  msk_min_isr     = var.msk_broker_count >= 3 ? 2 : 1
  msk_subnets     = slice(var.private_subnet_ids, 0, min(length(var.private_subnet_ids), var.msk_broker_count))
}

resource "aws_security_group" "msk" {
  name        = "${var.name_prefix}-msk"
  description = "WikiGuard MSK brokers: IAM/TLS from the ingest task and EMR Serverless only."
  vpc_id      = var.vpc_id

  tags = merge(local.tags, { Name = "${var.name_prefix}-msk" })
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_clients" {
  for_each = {
    ingest = aws_security_group.ingest.id
    emr    = aws_security_group.emr.id
  }

  security_group_id            = aws_security_group.msk.id
  description                  = "Kafka IAM/TLS from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = each.value

  tags = local.tags
}

resource "aws_msk_configuration" "this" {
  name           = "${var.name_prefix}-kafka"
  kafka_versions = [var.msk_kafka_version]
  description    = "WikiGuard broker defaults."

  # Topics are created explicitly (see infra/terraform/README.md), so a typo in
  # a topic name fails loudly instead of creating a new empty topic.
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=${local.msk_replication}
    min.insync.replicas=${local.msk_min_isr}
    num.partitions=3
    log.retention.hours=168
  PROPERTIES
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name_prefix
  kafka_version          = var.msk_kafka_version
  number_of_broker_nodes = var.msk_broker_count

  broker_node_group_info {
    instance_type   = var.msk_instance_type
    client_subnets  = local.msk_subnets
    security_groups = [aws_security_group.msk.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.msk_volume_size_gib
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }

  encryption_info {
    # At rest: the AWS-managed aws/msk key.
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.msk_broker_count % length(local.msk_subnets) == 0
      error_message = "msk_broker_count must be a multiple of the number of subnets MSK uses."
    }
  }

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "msk" {
  name              = "/${var.name_prefix}/msk"
  retention_in_days = var.log_retention_days

  tags = local.tags
}
