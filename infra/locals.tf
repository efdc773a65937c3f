locals {
  units   = jsondecode(file("${path.module}/units.json"))
  indexes = jsondecode(file("${path.module}/firestore.indexes.json"))

  functions = { for f in local.units.functions : f.name => f }
  http_functions = {
    for name, f in local.functions : name => f if f.trigger != "storage-finalized"
  }
  event_functions = {
    for name, f in local.functions : name => f if f.trigger == "storage-finalized"
  }
  private_functions = {
    for name, f in local.functions : name => f if f.trigger != "https-public"
  }
  jobs      = { for j in local.units.jobs : j.name => j }
  schedules = { for s in local.units.schedules : s.name => s }
  queues    = { for q in local.units.queues : q.name => q }

  # Cloud Run's deterministic URLs (https://NAME-PROJECT_NUMBER.REGION.run.app) let each
  # function know every other one's address, and its own, before any of them exists.
  function_urls = {
    for name, f in local.functions :
    name => "https://${name}-${data.google_project.this.number}.${var.region}.run.app"
  }

  bucket_names = {
    for role, _ in local.units.buckets : role => "${var.project_id}-assay-${role}"
  }

  # The identities a private function accepts: a role from units.json, or "validator"
  # for every validator job's own account.
  invoker_emails = {
    for name, f in local.private_functions : name => flatten([
      for who in f.invokers :
      who == "validator"
      ? [for j, _ in local.jobs : google_service_account.job[j].email]
      : [google_service_account.identity[who].email]
    ])
  }

  image_repository = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"

  # What every function reads at start (shared/platform/config.py fails fast without it).
  function_env = merge(
    {
      GOOGLE_CLOUD_PROJECT        = var.project_id
      ASSAY_REGION                = var.region
      ASSAY_STORAGE_URI           = "gs://${google_storage_bucket.unit["content"].name}"
      ASSAY_UPLOADS_URI           = "gs://${google_storage_bucket.unit["uploads"].name}"
      ASSAY_TASKS_QUEUE           = google_cloud_tasks_queue.queue["launches"].name
      ASSAY_TASKS_SERVICE_ACCOUNT = google_service_account.identity["tasks"].email
      ASSAY_JOB_PREFIX            = "validator-"
      ASSAY_UPLOAD_SIGNER         = google_service_account.identity["api"].email
      ASSAY_JOB_URL_SIGNER        = google_service_account.identity["worker"].email
      LOG_EXECUTION_ID            = "true"
    },
    { for name, f in local.functions : "ASSAY_${upper(f.setting)}" => local.function_urls[name] },
    {
      for name, f in local.private_functions :
      "ASSAY_${upper(replace(f.setting, "_url", "_invokers"))}" => join(",", local.invoker_emails[name])
    },
  )
}

data "google_project" "this" {
  project_id = var.project_id
}
