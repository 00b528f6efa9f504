terraform {
  # 1.5+: `check` blocks and lifecycle preconditions behave as documented.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}

provider "aws" {
  region = var.aws_region

  # Belt and braces with the explicit `tags = local.tags` on every taggable
  # resource: default_tags also reaches resources created implicitly by AWS.
  default_tags {
    tags = local.tags
  }
}
