# Three roles, each limited to what its process does:
#   ingest_execution  ECS agent: pull the image, write the task's logs.
#   ingest_task       the ingest process: produce to its two topics.
#   emr_job           the Spark jobs: lakehouse buckets, Glue database, read
#                     Kafka, publish alerts, read the Slack secret.
# plus an operator policy to attach to whoever runs `wikiguard jobs ...`.

locals {
  msk_cluster_arn = aws_msk_cluster.this.arn
  # MSK IAM resource ARNs are built from the cluster's name and UUID.
  msk_resource_suffix = "${aws_msk_cluster.this.cluster_name}/${aws_msk_cluster.this.cluster_uuid}"
  msk_topic_arn_base  = "arn:${local.partition}:kafka:${local.region}:${local.account_id}:topic/${local.msk_resource_suffix}"
  msk_group_arn_base  = "arn:${local.partition}:kafka:${local.region}:${local.account_id}:group/${local.msk_resource_suffix}"

  glue_arns = [
    "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
    "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${local.glue_database}",
    "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${local.glue_database}/*",
  ]
}

# ------------------------------------------------------------ ingest (ECS) ---

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "ingest_execution" {
  name               = "${var.name_prefix}-ingest-execution"
  description        = "ECS agent for the WikiGuard ingest: image pull and logs."
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "ingest_execution" {
  role       = aws_iam_role.ingest_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role" "ingest_task" {
  name               = "${var.name_prefix}-ingest-task"
  description        = "WikiGuard ingest process: produce to cleaned_events and its DLQ on MSK."
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "ingest_task" {
  statement {
    sid = "MskConnect"
    actions = [
      "kafka-cluster:Connect",
      "kafka-cluster:DescribeCluster",
      # The producer runs with idempotence on, which MSK authorises separately.
      "kafka-cluster:WriteDataIdempotently",
    ]
    resources = [local.msk_cluster_arn]
  }

  statement {
    sid = "MskProduce"
    actions = [
      "kafka-cluster:DescribeTopic",
      "kafka-cluster:WriteData",
      # Lets the ingest create its two topics on first start
      # (auto.create.topics.enable is off on the brokers).
      "kafka-cluster:CreateTopic",
    ]
    resources = [
      "${local.msk_topic_arn_base}/${local.kafka_topic}",
      "${local.msk_topic_arn_base}/${local.kafka_dlq_topic}",
    ]
  }
}

resource "aws_iam_role_policy" "ingest_task" {
  name   = "msk-produce"
  role   = aws_iam_role.ingest_task.id
  policy = data.aws_iam_policy_document.ingest_task.json
}

# ---------------------------------------------------- Spark jobs (EMR) ---

data "aws_iam_policy_document" "emr_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "emr_job" {
  name               = "${var.name_prefix}-emr-job"
  description        = "Runtime role of the WikiGuard Spark jobs on EMR Serverless."
  assume_role_policy = data.aws_iam_policy_document.emr_assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "emr_job" {
  statement {
    sid     = "ListLakehouseBuckets"
    actions = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [
      aws_s3_bucket.this["warehouse"].arn,
      aws_s3_bucket.this["checkpoints"].arn,
      aws_s3_bucket.this["artifacts"].arn,
    ]
  }

  statement {
    sid = "ReadWriteTablesAndCheckpoints"
    # Delete: Iceberg snapshot expiry / compaction and Spark checkpoint cleanup.
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${aws_s3_bucket.this["warehouse"].arn}/*",
      "${aws_s3_bucket.this["checkpoints"].arn}/*",
    ]
  }

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this["artifacts"].arn}/*"]
  }

  statement {
    sid = "GlueIcebergCatalog"
    actions = [
      "glue:GetDatabase",
      "glue:GetDatabases",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
    ]
    resources = local.glue_arns
  }

  statement {
    sid       = "MskConnect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [local.msk_cluster_arn]
  }

  statement {
    sid       = "MskReadCleanedEvents"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = ["${local.msk_topic_arn_base}/${local.kafka_topic}"]
  }

  statement {
    sid = "MskConsumerGroups"
    # Spark's Kafka source generates its own group ids per query.
    actions   = ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"]
    resources = ["${local.msk_group_arn_base}/*"]
  }

  statement {
    sid       = "PublishCriticalAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.critical_alerts.arn]
  }

  statement {
    sid       = "ReadSlackWebhook"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.slack_webhook.arn]
  }

  statement {
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.emr.arn}:*"]
  }
}

resource "aws_iam_role_policy" "emr_job" {
  name   = "wikiguard-jobs"
  role   = aws_iam_role.emr_job.id
  policy = data.aws_iam_policy_document.emr_job.json
}

# ------------------------------------------------------------- operator ---

# Attach to the humans / CI that run `wikiguard jobs submit|cancel|status`
# and upload job artifacts. Not attached to anything here on purpose.
data "aws_iam_policy_document" "operator" {
  statement {
    sid = "RunJobs"
    actions = [
      "emr-serverless:StartJobRun",
      "emr-serverless:GetJobRun",
      "emr-serverless:CancelJobRun",
      "emr-serverless:ListJobRuns",
      "emr-serverless:GetApplication",
      "emr-serverless:StartApplication",
      "emr-serverless:StopApplication",
    ]
    resources = [
      aws_emrserverless_application.spark.arn,
      "${aws_emrserverless_application.spark.arn}/jobruns/*",
    ]
  }

  statement {
    sid       = "PassJobRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.emr_job.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }

  statement {
    sid       = "UploadArtifacts"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.this["artifacts"].arn, "${aws_s3_bucket.this["artifacts"].arn}/*"]
  }

  # Job runs are started with tags (project = wikiguard), and cancel/status read them back.
  statement {
    sid       = "TagJobRuns"
    actions   = ["emr-serverless:TagResource", "emr-serverless:ListTagsForResource"]
    resources = [aws_emrserverless_application.spark.arn, "${aws_emrserverless_application.spark.arn}/jobruns/*"]
  }

  # `wikiguard ingest-service scale` and `wikiguard status`: this one service only.
  statement {
    sid       = "ScaleIngest"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService", "ecs:ListTagsForResource"]
    resources = [aws_ecs_service.ingest.id]
  }

  # `wikiguard status` and `wikiguard query`: read the lakehouse (tables and their files).
  statement {
    sid       = "ReadLakehouse"
    actions   = ["glue:GetDatabase", "glue:GetTables", "glue:GetTable"]
    resources = local.glue_arns
  }

  statement {
    sid       = "ReadWarehouse"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.this["warehouse"].arn, "${aws_s3_bucket.this["warehouse"].arn}/*"]
  }
}

resource "aws_iam_policy" "operator" {
  name        = "${var.name_prefix}-operator"
  description = "Submit, watch and cancel WikiGuard Spark jobs; upload job artifacts; scale the ingest; read the lakehouse."
  policy      = data.aws_iam_policy_document.operator.json

  tags = local.tags
}
