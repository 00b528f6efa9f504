# ---------------------------------------------------------------- general ---

variable "aws_region" {
  description = "AWS region to deploy WikiGuard into."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name. The wikiguard CLI only touches resources whose name starts with it (and that carry the project = wikiguard tag)."
  type        = string
  default     = "wikiguard"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters of lower-case letters, digits and hyphens (it ends up in S3 bucket names)."
  }
}

variable "extra_tags" {
  description = "Additional tags for every resource. `project` is always forced to `wikiguard`."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (ingest, EMR Serverless, MSK brokers)."
  type        = number
  default     = 30
}

# -------------------------------------------------------------- network ---

variable "vpc_id" {
  description = "Existing VPC to deploy into (this configuration does not create a VPC)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Existing private subnets, in distinct AZs, for MSK brokers, the ingest task and EMR Serverless. They need outbound internet (NAT) for the Wikimedia stream, or VPC endpoints for S3/Glue/STS/Logs/SNS/Secrets Manager plus NAT for the stream only."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "MSK needs at least two subnets in different availability zones."
  }
}

# ------------------------------------------------------------- storage ---

variable "checkpoint_noncurrent_days" {
  description = "Days after which superseded (noncurrent) objects in the checkpoints bucket expire. Spark deletes old batch files itself; versioning keeps them until this lifecycle purges them."
  type        = number
  default     = 7
}

variable "warehouse_noncurrent_days" {
  description = "Days after which noncurrent versions in the warehouse bucket expire (files removed by Iceberg snapshot expiry stay recoverable this long)."
  type        = number
  default     = 30
}

variable "athena_results_expiration_days" {
  description = "Days after which Athena query results expire."
  type        = number
  default     = 7
}

# ----------------------------------------------------------------- MSK ---

variable "msk_kafka_version" {
  description = "Kafka version of the MSK cluster (3.x)."
  type        = string
  default     = "3.6.0"

  validation {
    condition     = startswith(var.msk_kafka_version, "3.")
    error_message = "WikiGuard is built and tested against Kafka 3.x protocol features; use a 3.x version."
  }
}

variable "msk_instance_type" {
  description = "Broker instance type. kafka.t3.small is enough for a few watched pages (note: t3 brokers limit new IAM-authenticated connections per second)."
  type        = string
  default     = "kafka.t3.small"
}

variable "msk_broker_count" {
  description = "Number of brokers (2 or 3); must be a multiple of the number of subnets used by MSK."
  type        = number
  default     = 2

  validation {
    condition     = var.msk_broker_count >= 2 && var.msk_broker_count <= 3
    error_message = "msk_broker_count must be 2 or 3."
  }
}

variable "msk_volume_size_gib" {
  description = "EBS volume per broker, GiB."
  type        = number
  default     = 20
}

variable "kafka_dlq_topic" {
  description = "Dead-letter topic for events the ingest could not publish or parse (WIKIGUARD_KAFKA_DLQ_TOPIC)."
  type        = string
  default     = "cleaned_events_dlq"
}

# -------------------------------------------------------------- ingest ---

variable "ingest_image" {
  description = "Container image of the ingest task, built from docker/ingest.Dockerfile (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/wikiguard-ingest:0.1.0)."
  type        = string
}

variable "ingest_cpu" {
  description = "Fargate CPU units for the ingest task."
  type        = number
  default     = 256
}

variable "ingest_memory" {
  description = "Fargate memory (MiB) for the ingest task."
  type        = number
  default     = 512
}

variable "ingest_assign_public_ip" {
  description = "Give the ingest task a public IP. Only for subnets without NAT; keep false with private subnets."
  type        = bool
  default     = false
}

variable "sse_url" {
  description = "Wikimedia EventStreams endpoint (WIKIGUARD_SSE_URL)."
  type        = string
  default     = "https://stream.wikimedia.org/v2/stream/recentchange"
}

variable "wikimedia_user_agent" {
  description = "User-Agent sent to Wikimedia EventStreams (WIKIGUARD_USER_AGENT), with a real contact address per Wikimedia's policy. null = the package default."
  type        = string
  default     = null
}

variable "allowlist_path" {
  description = "Path of the allowlist inside the ingest container (WIKIGUARD_ALLOWLIST). The image ships the package default at this path."
  type        = string
  default     = "/etc/wikiguard/allowlist.yaml"
}

# -------------------------------------------------------- EMR Serverless ---

variable "emr_release_label" {
  description = "EMR Serverless release (emr-7.x, Spark 3.5 / Scala 2.12, matching the jars pinned in jvm/pom.xml)."
  type        = string
  default     = "emr-7.9.0"

  validation {
    condition     = startswith(var.emr_release_label, "emr-7.")
    error_message = "Use an emr-7.x release (Spark 3.5)."
  }
}

variable "emr_image_uri" {
  description = "Optional custom EMR Serverless image (docker/emr-spark.Dockerfile) carrying Python 3.11 and the wikiguard dependencies. null = the stock image (Python 3.9, which the wikiguard package does not support)."
  type        = string
  default     = null
}

variable "emr_max_vcpu" {
  description = "Upper bound on vCPU used by all workers of the Spark application at once (cost guard)."
  type        = string
  default     = "16 vCPU"
}

variable "emr_max_memory" {
  description = "Upper bound on memory used by all workers of the Spark application at once (cost guard)."
  type        = string
  default     = "64 GB"
}

variable "emr_idle_timeout_minutes" {
  description = "The Spark application stops after this many idle minutes (pre-initialised capacity is billed while it runs)."
  type        = number
  default     = 15
}

# -------------------------------------------------------------- alerts ---

variable "alert_email" {
  description = "Optional e-mail address subscribed to the critical-alerts SNS topic (the subscription must be confirmed from the mailbox). Empty = no subscription."
  type        = string
  default     = ""
}
