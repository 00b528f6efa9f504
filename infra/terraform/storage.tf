# Four buckets with the same baseline (versioning, SSE, no public access,
# TLS-only policy) and a lifecycle per purpose.

locals {
  buckets = {
    warehouse      = "${var.name_prefix}-warehouse-${local.account_id}"
    checkpoints    = "${var.name_prefix}-checkpoints-${local.account_id}"
    artifacts      = "${var.name_prefix}-artifacts-${local.account_id}"
    athena_results = "${var.name_prefix}-athena-results-${local.account_id}"
  }
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  bucket = each.value
  # The warehouse holds the tables of record: never let `terraform destroy`
  # empty a bucket behind the operator's back.
  force_destroy = false

  tags = merge(local.tags, { purpose = each.key })
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  rule {
    # SSE-S3 rather than KMS: no key policy to keep in step with every role
    # (EMR, Athena users, the CLI) that reads the tables.
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_iam_policy_document" "bucket_tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket_tls_only[each.key].json

  # A bucket policy put before the public access block can be rejected.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Lifecycle rules. Checkpoints are NOT expired by age: a streaming query writes
# its `metadata` file once at start, so age-based expiry of current objects
# would corrupt the checkpoint of any query older than the threshold. Spark
# deletes the batch files it no longer needs; with versioning on they become
# noncurrent, and that is what expires here.
locals {
  lifecycle_rules = {
    warehouse = {
      noncurrent_days = var.warehouse_noncurrent_days
      expire_days     = null
    }
    checkpoints = {
      noncurrent_days = var.checkpoint_noncurrent_days
      expire_days     = null
    }
    artifacts = {
      noncurrent_days = 90
      expire_days     = null
    }
    athena_results = {
      noncurrent_days = 1
      expire_days     = var.athena_results_expiration_days
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.lifecycle_rules

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "expire-noncurrent"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = each.value.noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  dynamic "rule" {
    for_each = each.value.expire_days == null ? [] : [each.value.expire_days]
    content {
      id     = "expire-current"
      status = "Enabled"
      filter {}

      expiration {
        days = rule.value
      }
    }
  }

  # Lifecycle configuration needs versioning settled first.
  depends_on = [aws_s3_bucket_versioning.this]
}
