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
  # Called by the identities units.json names (private), by anyone (public), or only
  # through Identity-Aware Proxy (https-iap: the console, iap.tf).
  private_functions = {
    for name, f in local.functions : name => f if contains(["https-private", "storage-finalized"], f.trigger)
  }
  jobs      = { for j in local.units.jobs : j.name => j }
  schedules = { for s in local.units.schedules : s.name => s }
  queues    = { for q in local.units.queues : q.name => q }

  iap_functions = {
    for name, f in local.functions : name => f if f.trigger == "https-iap"
  }
  # The console: the one function behind IAP, the backend of iap.tf's load balancer.
  console_function = one(keys(local.iap_functions))
  # On once the console has a host name (console_domain), unless console_enabled says no.
  console_enabled = coalesce(var.console_enabled, var.console_domain != "")

  # Cloud Run's deterministic URLs (https://NAME-PROJECT_NUMBER.REGION.run.app) let each
  # function know every other one's address, and its own, before any of them exists.
  function_urls = {
    for name, f in local.functions :
    name => "https://${name}-${data.google_project.this.number}.${var.region}.run.app"
  }

  # What each function's setting (ASSAY_<SETTING>) holds: its URL, but for the console
  # the address people open, IAP's load balancer (its run.app URL lets nobody in).
  setting_urls = merge(
    local.function_urls,
    { for name, _ in local.iap_functions : name => "https://${var.console_domain}" if local.console_enabled },
  )

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
      # Run credentials: signed as the signer account, naming the API as their issuer.
      ASSAY_CREDENTIAL_SIGNER = google_service_account.identity["signer"].email
      ASSAY_CREDENTIAL_ISSUER = local.setting_urls["api"]
      LOG_EXECUTION_ID        = "true"
    },
    { for name, f in local.functions : "ASSAY_${upper(f.setting)}" => local.setting_urls[name] },
    {
      for name, f in local.private_functions :
      "ASSAY_${upper(replace(f.setting, "_url", "_invokers"))}" => join(",", local.invoker_emails[name])
    },
  )
}

data "google_project" "this" {
  project_id = var.project_id
}
