output "warehouse_bucket" {
  description = "Iceberg warehouse bucket (tables of wikiguard_lakehouse)."
  value       = aws_s3_bucket.this["warehouse"].bucket
}

output "checkpoints_bucket" {
  description = "Spark structured-streaming checkpoints."
  value       = aws_s3_bucket.this["checkpoints"].bucket
}

output "artifacts_bucket" {
  description = "Job artifacts: the wikiguard code zip, entrypoint scripts and pinned jars."
  value       = aws_s3_bucket.this["artifacts"].bucket
}

output "athena_results_bucket" {
  description = "Athena query results."
  value       = aws_s3_bucket.this["athena_results"].bucket
}

output "glue_database" {
  description = "Glue database holding the Iceberg tables."
  value       = aws_glue_catalog_database.lakehouse.name
}

output "athena_workgroup" {
  description = "Athena workgroup for ad-hoc queries."
  value       = aws_athena_workgroup.this.name
}

output "msk_bootstrap_brokers_iam" {
  description = "MSK bootstrap brokers for SASL/IAM over TLS (port 9098): WIKIGUARD_KAFKA_BOOTSTRAP."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "msk_cluster_arn" {
  description = "MSK cluster ARN."
  value       = aws_msk_cluster.this.arn
}

output "emr_application_id" {
  description = "EMR Serverless application id, used by `wikiguard jobs submit`."
  value       = aws_emrserverless_application.spark.id
}

output "emr_job_role_arn" {
  description = "Runtime role passed to every Spark job run."
  value       = aws_iam_role.emr_job.arn
}

output "emr_log_group" {
  description = "CloudWatch log group of the Spark jobs."
  value       = aws_cloudwatch_log_group.emr.name
}

output "ecs_cluster_name" {
  description = "ECS cluster of the ingest."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_name" {
  description = "ECS service running the single ingest task."
  value       = aws_ecs_service.ingest.name
}

output "ingest_log_group" {
  description = "CloudWatch log group of the ingest task."
  value       = aws_cloudwatch_log_group.ingest.name
}

output "sns_topic_arn" {
  description = "Critical-alerts SNS topic."
  value       = aws_sns_topic.critical_alerts.arn
}

output "slack_secret_arn" {
  description = "Secrets Manager secret holding the Slack webhook URL (value set out of band)."
  value       = aws_secretsmanager_secret.slack_webhook.arn
}

output "operator_policy_arn" {
  description = "IAM policy to attach to whoever runs `wikiguard jobs ...`."
  value       = aws_iam_policy.operator.arn
}
