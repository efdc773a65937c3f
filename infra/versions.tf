# Assay on Google Cloud. Every unit (functions, queues, schedules, buckets, validator
# jobs) comes from units.json, the list the local stack also starts; Firestore's indexes
# come from firestore.indexes.json, the file the index-coverage test checks queries
# against. See docs/deploy.md for the runbook.
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
  }

  # Partial configuration: `terraform init -backend-config="bucket=<state bucket>"`.
  backend "gcs" {
    prefix = "assay"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app = "assay"
  }
}
