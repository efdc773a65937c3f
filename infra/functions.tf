# One gen2 function per entry point of functions/main.py (units.json "functions"), all
# from the same staged source, each under its role's identity. Who may call a private
# function is decided by run.invoker (iam.tf) and checked again in code
# (shared/api/auth/id_tokens.py); ingress narrows the network path on top of that.
locals {
  function_build = {
    runtime = "python312"
    bucket  = google_storage_bucket.sources.name
    object  = google_storage_bucket_object.functions.name
  }

  # Cloud Tasks, Cloud Scheduler and Eventarc in the same project count as internal
  # traffic, so their targets are internal-only. The API is public, and the callback is
  # called by validator jobs, which have no VPC egress: those two stay reachable. The
  # console is reached through IAP's load balancer (iap.tf), never at its run.app URL.
  function_ingress = {
    for name, f in local.functions : name => (
      f.trigger == "https-iap" ? "ALLOW_INTERNAL_AND_GCLB" : (
        f.trigger == "https-public" || contains(try(f.invokers, []), "validator")
        ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
      )
    )
  }

  # The api serves many requests per instance (decision record 0029): a `Prefer: wait`
  # or an inline check holds a request, not an instance, so one org's waits cannot take
  # every instance. Gen2 allows concurrency above 1 only with at least one vCPU. The
  # functions-framework serves a request per gunicorn thread: THREADS matches it. The
  # others stay at one request per instance: their work is CPU- or I/O-bound batches
  # that scale out better than they share. The console shares too: a page and its
  # static files arrive together, and each is a few Firestore reads and a template.
  function_concurrency = { api = 80, console = 20 }
  function_cpu         = { api = "1", console = "1" }
  function_threads = {
    for name, n in local.function_concurrency : name => { THREADS = tostring(n) }
  }

  # Whom the callback takes each validator's results from: that validator's own job
  # account, not any validator job's (shared/platform/config.py validator_identities, 0020).
  function_env_with_identities = merge(local.function_env, {
    ASSAY_VALIDATOR_IDENTITIES = join(",", [
      for name, j in local.jobs : "${j.validator}=${google_service_account.job[name].email}"
    ])
  })

  # The console takes IAP's assertions for its own backend service alone (decision
  # record 0070): the audience names the service's generated id. The load balancer
  # reaches the function by its service name (iap.tf), not through this resource, so
  # the function can depend on the backend service without a cycle. Off, no audience:
  # nobody is let in.
  function_iap_env = {
    for name, _ in local.iap_functions : name => { ASSAY_IAP_AUDIENCE = local.console_iap_audience }
  }
}

resource "google_cloudfunctions2_function" "http" {
  # checkov:skip=CKV_GCP_124: ingress is per unit (local.function_ingress): internal-only except the public API, the callback that validator jobs reach over the internet, and the console behind IAP's load balancer
  for_each = local.http_functions

  name     = each.key
  location = var.region

  build_config {
    runtime     = local.function_build.runtime
    entry_point = each.value.entry_point

    source {
      storage_source {
        bucket = local.function_build.bucket
        object = local.function_build.object
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.identity[each.value.identity].email
    available_memory                 = each.value.memory
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = 0
    max_instance_count               = var.max_instances
    available_cpu                    = lookup(local.function_cpu, each.key, null)
    max_instance_request_concurrency = lookup(local.function_concurrency, each.key, 1)
    ingress_settings                 = local.function_ingress[each.key]
    all_traffic_on_latest_revision   = true
    environment_variables = merge(
      local.function_env_with_identities,
      lookup(local.function_threads, each.key, {}),
      lookup(local.function_iap_env, each.key, {}),
    )
  }

  labels = {
    unit    = each.key
    release = var.release
  }

  depends_on = [google_project_service.api, google_firestore_database.main]
}

resource "google_cloudfunctions2_function" "event" {
  # checkov:skip=CKV_GCP_124: ingress is local.function_ingress, internal-only for Eventarc's deliveries; checkov cannot evaluate it
  for_each = local.event_functions

  name     = each.key
  location = var.region

  build_config {
    runtime     = local.function_build.runtime
    entry_point = each.value.entry_point

    source {
      storage_source {
        bucket = local.function_build.bucket
        object = local.function_build.object
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.identity[each.value.identity].email
    available_memory                 = each.value.memory
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = 0
    max_instance_count               = var.max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = local.function_ingress[each.key]
    all_traffic_on_latest_revision   = true
    environment_variables            = local.function_env_with_identities
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.identity[one(each.value.invokers)].email

    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.unit[each.value.bucket].name
    }
  }

  labels = {
    unit    = each.key
    release = var.release
  }

  depends_on = [
    google_project_service.api,
    google_firestore_database.main,
    google_project_iam_member.gcs_agent_publishes_events,
    google_project_iam_member.eventarc_receives_events,
  ]
}
