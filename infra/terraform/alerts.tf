# Where critical alerts go: an SNS topic (SnsAlertSink) and a Slack incoming
# webhook whose URL lives in Secrets Manager (SlackAlertSink).

resource "aws_sns_topic" "critical_alerts" {
  name = "${var.name_prefix}-critical-alerts"
  # SSE with the AWS-managed key: its key policy already lets account
  # principals allowed to publish use it through SNS.
  kms_master_key_id = "alias/aws/sns"

  tags = local.tags
}

resource "aws_sns_topic_subscription" "critical_alerts_email" {
  count = var.alert_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.critical_alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# Only the secret's container is managed here. The webhook URL is set out of
# band (see README) so it never appears in Terraform state or plans:
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string <url>
resource "aws_secretsmanager_secret" "slack_webhook" {
  name                    = "${var.name_prefix}/slack-webhook-url"
  description             = "Slack incoming-webhook URL for WikiGuard alerts. Value set out of band, never by Terraform."
  recovery_window_in_days = 7

  tags = local.tags
}
