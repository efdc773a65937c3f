# Who may do what, least privilege: each function and job has its own identity with only
# what its trigger needs (docs/security.md, docs/architecture.md "Identities").
# tests/infra/test_terraform_structure.py checks these bindings against units.json.

# --- Invoking functions ---------------------------------------------------------------

# Only the API is public; its routes authenticate with API keys.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = { for name, f in local.http_functions : name => f if f.trigger == "https-public" }

  # checkov:skip=CKV_GCP_102: the public API is meant to be reachable; every route but /healthz and the OpenAPI document requires an API key
  location = var.region
  name     = google_cloudfunctions2_function.http[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# A private function may be invoked by exactly the identities units.json names.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = merge([
    for name, f in local.private_functions : {
      for email in local.invoker_emails[name] : "${name}/${email}" => {
        function = name
        email    = email
      }
    }
  ]...)

  location = var.region
  name = try(
    google_cloudfunctions2_function.http[each.value.function].name,
    google_cloudfunctions2_function.event[each.value.function].name,
  )
  role   = "roles/run.invoker"
  member = "serviceAccount:${each.value.email}"
}

# The console (units.json's https-iap function) is invoked by IAP's service agent alone,
# for a person who has passed IAP (iap.tf); the console verifies IAP's assertion in
# code as well. While the console is off nobody may invoke it. IAP creates its agent
# when it is first enabled on a backend (docs/deploy.md), hence the dependency.
resource "google_cloud_run_v2_service_iam_member" "iap" {
  for_each = { for name, f in local.iap_functions : name => f if local.console_enabled }

  location = var.region
  name     = google_cloudfunctions2_function.http[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${local.iap_service_agent}"

  depends_on = [google_compute_backend_service.console]
}

# --- Running validator jobs -----------------------------------------------------------

# What `launch` and `retry` do to a validator job: run it with per-execution overrides,
# read, list and cancel its executions. Nothing that changes or deletes the job.
resource "google_project_iam_custom_role" "job_launcher" {
  role_id     = "assayJobLauncher"
  title       = "Assay validator job launcher"
  description = "Run Assay's validator jobs with overrides; read, list and cancel their executions."
  permissions = [
    "run.executions.cancel",
    "run.executions.get",
    "run.executions.list",
    "run.jobs.get",
    "run.jobs.run",
    "run.jobs.runWithOverrides",
  ]
}

resource "google_cloud_run_v2_job_iam_member" "worker_launches" {
  for_each = local.jobs

  location = var.region
  name     = google_cloud_run_v2_job.validator[each.key].name
  role     = google_project_iam_custom_role.job_launcher.id
  member   = "serviceAccount:${google_service_account.identity["worker"].email}"
}

# --- Enqueuing tasks ------------------------------------------------------------------

# The API (after a submit) and the worker (uploads, purges, reconcile) add tasks; each
# task's OIDC token is for the tasks identity, which the enqueuer must be able to act as.
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = toset(["api", "worker"])

  location = var.region
  name     = google_cloud_tasks_queue.queue["launches"].name
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.identity[each.key].email}"
}

resource "google_service_account_iam_member" "enqueuer_acts_as_tasks" {
  for_each = toset(["api", "worker"])

  service_account_id = google_service_account.identity["tasks"].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.identity[each.key].email}"
}

# --- Firestore ------------------------------------------------------------------------

resource "google_project_iam_member" "firestore_user" {
  for_each = toset(["api", "worker"])

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.identity[each.key].email}"
}

# --- Cloud Storage --------------------------------------------------------------------

locals {
  content_bucket = google_storage_bucket.unit["content"].name
  subs_prefix    = "projects/_/buckets/${local.content_bucket}/objects/submissions/"
  res_prefix     = "projects/_/buckets/${local.content_bucket}/objects/resources/"
}

# The worker launches (copies into bundles), reads outputs and purges (lists and
# deletes under a run's prefix): all of the content bucket.
resource "google_storage_bucket_iam_member" "worker_content" {
  bucket = local.content_bucket
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.identity["worker"].email}"
}

# The worker reads an uploaded file, copies an accepted one into the content bucket
# (the copy carries the retention as customTime; the upload itself is never changed)
# and deletes it from the uploads bucket, accepted or rejected. Reading and deleting
# need a role with delete; objectUser is the smallest predefined one that has it.
resource "google_storage_bucket_iam_member" "worker_uploads" {
  bucket = google_storage_bucket.unit["uploads"].name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.identity["worker"].email}"
}

# The API stores submitted files and workflow resources, and only those.
resource "google_storage_bucket_iam_member" "api_submissions" {
  bucket = local.content_bucket
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.identity["api"].email}"

  condition {
    title      = "submissions-and-resources"
    expression = "resource.name.startsWith(\"${local.subs_prefix}\") || resource.name.startsWith(\"${local.res_prefix}\")"
  }
}

# A validator job holds no storage role at all: each execution reaches only the objects
# its launch signed URLs for (its inputs, its output.json and its artifacts), signed by
# the worker as itself (decision record 0024).

# Signed upload URLs (POST .../uploads): the API signs them as itself through IAM's
# signBlob (a function has no key file), and a signed URL carries its signer's rights, so
# the API may create objects in the uploads bucket. Create only: the URL it signs sends
# x-goog-if-generation-match: 0, and the role has no delete or overwrite.
# Signing takes a custom role holding signBlob alone, granted on the API's own account:
# roles/iam.serviceAccountTokenCreator would also let the API mint access and ID tokens
# and sign JWTs as that account, none of which it needs. No identity holds Token Creator.
resource "google_project_iam_custom_role" "url_signer" {
  role_id     = "assayUrlSigner"
  title       = "Assay URL signer"
  description = "Sign bytes as a service account (IAM Credentials signBlob); no tokens, no JWTs, no keys."
  permissions = ["iam.serviceAccounts.signBlob"]
}

resource "google_service_account_iam_member" "api_signs_as_itself" {
  service_account_id = google_service_account.identity["api"].name
  role               = google_project_iam_custom_role.url_signer.id
  member             = "serviceAccount:${google_service_account.identity["api"].email}"
}

# The worker signs each execution's URLs as itself, through the same signBlob-only role
# on its own account; a URL carries its signer's rights, which objectAdmin on the
# content bucket covers (read inputs, create outputs).
resource "google_service_account_iam_member" "worker_signs_as_itself" {
  service_account_id = google_service_account.identity["worker"].name
  role               = google_project_iam_custom_role.url_signer.id
  member             = "serviceAccount:${google_service_account.identity["worker"].email}"
}

# Run credentials (decision record 0086) are signed as a dedicated account, so a key
# that signs credentials never signs URLs and the reverse: the API signs as it through a
# role of its own holding signBlob alone (not Token Creator, which would also mint tokens
# and sign JWTs as it). Nothing runs as the signer and it holds no other role.
resource "google_project_iam_custom_role" "credential_signer" {
  role_id     = "assayCredentialSigner"
  title       = "Assay credential signer"
  description = "Sign run credentials as the signer account (IAM Credentials signBlob); no tokens, no JWTs, no keys."
  permissions = ["iam.serviceAccounts.signBlob"]
}

resource "google_service_account_iam_member" "api_signs_credentials" {
  service_account_id = google_service_account.identity["signer"].name
  role               = google_project_iam_custom_role.credential_signer.id
  member             = "serviceAccount:${google_service_account.identity["api"].email}"
}

resource "google_storage_bucket_iam_member" "api_creates_uploads" {
  bucket = google_storage_bucket.unit["uploads"].name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.identity["api"].email}"
}

# --- Eventarc (the upload trigger) ----------------------------------------------------

# Cloud Storage publishes its object events through Pub/Sub as its service agent.
resource "google_project_iam_member" "gcs_agent_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_project_iam_member" "eventarc_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.identity["eventarc"].email}"
}
