# Content (submissions and execution bundles) and uploads. The purge deletes what the
# retention policy says must go; every object also carries customTime = the end of its
# retention, and the lifecycle rule below deletes it a day after that even if every
# purge failed. The content bucket deliberately has no age rule: it would delete content
# still under retention (a re-run holds content longer than its age suggests).
#
# The uploads bucket is a drop zone: the trigger copies an object it accepts into the
# content bucket (its retention as customTime there) and deletes it here, and deletes one
# it refuses. So an object older than local.unclaimed_upload_days was never claimed (the
# trigger's retries end after a day) and its age rule deletes it; no run reads it.
locals {
  # Past Eventarc's retries of the trigger (a day) with a day to spare.
  unclaimed_upload_days = 2
}

resource "google_storage_bucket" "unit" {
  for_each = local.units.buckets

  # checkov:skip=CKV_GCP_78: versioning would keep every purged object as a noncurrent version; a purge must really delete
  # checkov:skip=CKV_GCP_62: object access is recorded by Cloud Audit Logs (data access), not a second bucket of usage logs
  name                        = local.bucket_names[each.key]
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = false
  }

  soft_delete_policy {
    # Soft delete would keep purged content recoverable for a week.
    retention_duration_seconds = 0
  }

  lifecycle_rule {
    condition {
      days_since_custom_time = 1
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.key == "uploads" ? [local.unclaimed_upload_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  # The console's pages PUT large files to the uploads bucket by signed URL from the
  # browser: only from the console's own origin, only PUT (the URL's signature still
  # decides what may be written).
  dynamic "cors" {
    for_each = each.key == "uploads" && local.console_enabled ? ["https://${var.console_domain}"] : []
    content {
      origin = [cors.value]
      method = ["PUT"]
      # The headers a grant signs (shared/services/upload_urls.py) for a console upload.
      response_header = [
        "Content-Type",
        "x-goog-content-length-range",
        "x-goog-if-generation-match",
        "x-goog-meta-api-key-id",
        "x-goog-meta-user",
      ]
      max_age_seconds = 3600
    }
  }

  labels = {
    role = each.key
  }

  depends_on = [google_project_service.api]
}

# The staged functions (make stage, zipped), one object per content hash, so a change
# of source is a change of object and redeploys the functions.
resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_78: objects are immutable by name (content hash); versions would add nothing
  # checkov:skip=CKV_GCP_62: build sources only; access is in Cloud Audit Logs
  name                        = "${var.project_id}-assay-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  versioning {
    enabled = false
  }

  depends_on = [google_project_service.api]
}

resource "google_storage_bucket_object" "functions" {
  name   = "functions-${filemd5(var.functions_source_zip)}.zip"
  bucket = google_storage_bucket.sources.name
  source = var.functions_source_zip
}

# Who holds a role on the uploads bucket: only Assay's own identities, each granted in
# iam.tf by an additive google_storage_bucket_iam_member (the api creates through the
# URLs it signs; the worker reads, copies and deletes). An org's uploaders are added to
# the same policy by `assay admin uploaders add` as conditional bindings on their org's
# folder (decision record 0025); an authoritative google_storage_bucket_iam_policy or
# _binding here would wipe them at the next apply, so there is none.
