# Cloud Scheduler jobs (units.json "schedules"), each POSTing its body to a private
# function with an OIDC token for the scheduler identity, audience = the function URL.
resource "google_cloud_scheduler_job" "schedule" {
  for_each = local.schedules

  name             = each.key
  region           = var.region
  schedule         = each.value.cron
  time_zone        = "Etc/UTC"
  attempt_deadline = "${min(local.functions[each.value.function].timeout_seconds, 1800)}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    uri         = local.function_urls[each.value.function]
    http_method = "POST"
    body        = base64encode(jsonencode(each.value.body))
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.identity["scheduler"].email
      audience              = local.function_urls[each.value.function]
    }
  }

  depends_on = [google_project_service.api, google_cloudfunctions2_function.http]
}
