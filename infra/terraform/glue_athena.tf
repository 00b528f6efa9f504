# The Iceberg catalog: one Glue database whose tables (bronze/silver/gold and
# quarantine) are created by the Spark jobs through Iceberg's GlueCatalog.
resource "aws_glue_catalog_database" "lakehouse" {
  name         = local.glue_database
  description  = "WikiGuard medallion lakehouse (Apache Iceberg tables)."
  location_uri = "s3://${aws_s3_bucket.this["warehouse"].bucket}/${local.glue_database}.db"

  tags = local.tags
}

resource "aws_athena_workgroup" "this" {
  name          = var.name_prefix
  description   = "Ad-hoc SQL over the WikiGuard Iceberg tables."
  force_destroy = true

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    # 10 GiB per query is far above what the gold tables need; it stops a
    # mistaken full scan of bronze from running up a bill.
    bytes_scanned_cutoff_per_query = 10737418240

    # Iceberg tables need engine version 3.
    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.this["athena_results"].bucket}/results/"
      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }

  tags = local.tags
}
