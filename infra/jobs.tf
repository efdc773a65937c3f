# One Cloud Run Job per validator (units.json "jobs"), from its image tagged with the
# release. `launch` runs it with overrides: INPUT_URI, the trace, and the step's
# timeout; everything else is fixed here, its network included (network.tf).
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

      # No way out (network.tf, decision record 0022): every packet the job sends goes
      # into the validators' network, which reaches Cloud Storage and the callback through
      # Private Google Access and nothing else. Tokens come from the metadata server,
      # which is outside the network and always reachable.
      vpc_access {
        egress = "ALL_TRAFFIC"

        network_interfaces {
          network    = google_compute_network.validators.name
          subnetwork = google_compute_subnetwork.validators.name
        }
      }

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

  # A job may run as soon as it exists: its way out must be in place first.
  depends_on = [
    google_project_service.api,
    google_compute_route.private_google_access,
    google_compute_firewall.allow_private_google_access,
    google_compute_firewall.deny_egress,
    google_dns_record_set.private_google_access,
  ]
}
