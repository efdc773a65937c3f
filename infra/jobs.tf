# One Cloud Run Job per validator (units.json "jobs"), from its image tagged with the
# release. `launch` runs it with overrides: INPUT_URI, the trace, and the step's
# timeout; everything else is fixed here.
resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: images hold public code only; Google-managed encryption is enough
  repository_id = "assay"
  location      = var.region
  format        = "DOCKER"
  description   = "Validator images, tagged with the git commit."

  cleanup_policies {
    id     = "keep-recent-releases"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_cloud_run_v2_job" "validator" {
  for_each = local.jobs

  name     = each.key
  location = var.region

  labels = {
    validator = each.value.validator
    version   = var.release
  }

  template {
    task_count = 1

    labels = {
      validator = each.value.validator
      version   = var.release
    }

    template {
      service_account = google_service_account.job[each.key].email
      timeout         = "${each.value.timeout_seconds}s"
      # A failed validator is reported by its callback, or found by the retry
      # function's reconcile; a blind retry would run the same input again.
      max_retries = 0

      containers {
        image = "${local.image_repository}/${each.key}:${var.release}"

        env {
          name  = "VALIDATOR_VERSION"
          value = var.release
        }
        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
        }

        resources {
          limits = {
            cpu    = "1"
            memory = each.value.memory
          }
        }
      }
    }
  }

  depends_on = [google_project_service.api]
}
