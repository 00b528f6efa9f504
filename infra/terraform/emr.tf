# Spark jobs (bronze / silver / gold) run on one EMR Serverless application,
# submitted by `wikiguard jobs submit`. It starts on submission and stops when
# idle, so it costs nothing between runs.

resource "aws_cloudwatch_log_group" "emr" {
  name              = "/${var.name_prefix}/emr-serverless"
  retention_in_days = var.log_retention_days

  tags = local.tags
}

resource "aws_security_group" "emr" {
  name        = "${var.name_prefix}-emr"
  description = "WikiGuard EMR Serverless workers: AWS APIs and Slack over HTTPS, MSK over IAM/TLS."
  vpc_id      = var.vpc_id

  tags = merge(local.tags, { Name = "${var.name_prefix}-emr" })
}

resource "aws_vpc_security_group_egress_rule" "emr_https" {
  security_group_id = aws_security_group.emr.id
  description       = "HTTPS: S3, Glue, STS, SNS, Secrets Manager, Logs, Slack webhook"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = local.tags
}

resource "aws_vpc_security_group_egress_rule" "emr_to_msk" {
  security_group_id            = aws_security_group.emr.id
  description                  = "Kafka IAM/TLS to MSK"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.msk.id

  tags = local.tags
}

# Workers of one job may talk to each other through their VPC interfaces
# (driver <-> executors); allow it within the group only.
resource "aws_vpc_security_group_egress_rule" "emr_to_self" {
  security_group_id            = aws_security_group.emr.id
  description                  = "Spark driver/executor traffic within the application"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.emr.id

  tags = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "emr_from_self" {
  security_group_id            = aws_security_group.emr.id
  description                  = "Spark driver/executor traffic within the application"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.emr.id

  tags = local.tags
}

resource "aws_emrserverless_application" "spark" {
  name          = "${var.name_prefix}-spark"
  release_label = var.emr_release_label
  type          = "spark"
  architecture  = "X86_64"

  # Small warm pool: one driver and one executor, so a scheduled job does not
  # wait for cold workers; released after the idle timeout.
  initial_capacity {
    initial_capacity_type = "Driver"
    initial_capacity_config {
      worker_count = 1
      worker_configuration {
        cpu    = "2 vCPU"
        memory = "4 GB"
      }
    }
  }

  initial_capacity {
    initial_capacity_type = "Executor"
    initial_capacity_config {
      worker_count = 1
      worker_configuration {
        cpu    = "2 vCPU"
        memory = "8 GB"
      }
    }
  }

  maximum_capacity {
    cpu    = var.emr_max_vcpu
    memory = var.emr_max_memory
  }

  auto_start_configuration {
    enabled = true
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.emr_idle_timeout_minutes
  }

  network_configuration {
    subnet_ids         = var.private_subnet_ids
    security_group_ids = [aws_security_group.emr.id]
  }

  dynamic "image_configuration" {
    for_each = var.emr_image_uri == null ? [] : [var.emr_image_uri]
    content {
      image_uri = image_configuration.value
    }
  }

  tags = local.tags
}
