# The ingest: one long-running Fargate task (SSE -> allowlist -> Kafka).
# Exactly one task may run at a time: two would publish every event twice, so
# deployments stop the old task before starting the new one (min 0 / max 100).

locals {
  ingest_environment = merge(
    {
      WIKIGUARD_KAFKA_BOOTSTRAP = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
      WIKIGUARD_KAFKA_TOPIC     = local.kafka_topic
      WIKIGUARD_KAFKA_DLQ_TOPIC = local.kafka_dlq_topic
      WIKIGUARD_KAFKA_SECURITY  = "iam"
      WIKIGUARD_SSE_URL         = var.sse_url
      WIKIGUARD_ALLOWLIST       = var.allowlist_path
      # The ingest creates its topics when missing: size them for the brokers.
      WIKIGUARD_KAFKA_PARTITIONS  = "3"
      WIKIGUARD_KAFKA_REPLICATION = tostring(local.msk_replication)
      # Read by Settings and by the MSK IAM token signer.
      AWS_REGION = local.region
    },
    # Wikimedia asks clients for a User-Agent with contact details.
    var.wikimedia_user_agent == null ? {} : { WIKIGUARD_USER_AGENT = var.wikimedia_user_agent },
  )
}

resource "aws_ecs_cluster" "this" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "ingest" {
  name              = "/${var.name_prefix}/ingest"
  retention_in_days = var.log_retention_days

  tags = local.tags
}

resource "aws_security_group" "ingest" {
  name        = "${var.name_prefix}-ingest"
  description = "WikiGuard ingest task: no inbound; outbound to Wikimedia (HTTPS) and MSK."
  vpc_id      = var.vpc_id

  tags = merge(local.tags, { Name = "${var.name_prefix}-ingest" })
}

resource "aws_vpc_security_group_egress_rule" "ingest_https" {
  security_group_id = aws_security_group.ingest.id
  description       = "HTTPS: Wikimedia EventStreams and AWS APIs (STS, ECR, Logs)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = local.tags
}

resource "aws_vpc_security_group_egress_rule" "ingest_to_msk" {
  security_group_id            = aws_security_group.ingest.id
  description                  = "Kafka IAM/TLS to MSK"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.msk.id

  tags = local.tags
}

resource "aws_ecs_task_definition" "ingest" {
  family                   = "${var.name_prefix}-ingest"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.ingest_cpu
  memory                   = var.ingest_memory
  execution_role_arn       = aws_iam_role.ingest_execution.arn
  task_role_arn            = aws_iam_role.ingest_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name      = "ingest"
      image     = var.ingest_image
      essential = true
      # ENTRYPOINT of the image is `wikiguard ingest`; no command override.

      environment = [for name, value in local.ingest_environment : { name = name, value = value }]

      # `wikiguard health` exits non-zero when the heartbeat file written by
      # the ingest loop is older than its threshold (stream stalled or hung).
      healthCheck = {
        command     = ["CMD", "wikiguard", "health"]
        interval    = 30
        timeout     = 10
        retries     = 3
        startPeriod = 60
      }

      # Give the ingest time to flush the Kafka producer on SIGTERM.
      stopTimeout = 30

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.ingest.name
          "awslogs-region"        = local.region
          "awslogs-stream-prefix" = "ingest"
        }
      }
    }
  ])

  tags = local.tags
}

resource "aws_ecs_service" "ingest" {
  name            = "${var.name_prefix}-ingest"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.ingest.arn
  launch_type     = "FARGATE"
  desired_count   = 1

  # Never two ingest tasks at once (every event would be published twice); a
  # deployment costs a short gap in the stream instead.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.ingest.id]
    assign_public_ip = var.ingest_assign_public_ip
  }

  propagate_tags = "SERVICE"

  tags = local.tags
}
