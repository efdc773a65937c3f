# Cloud Tasks queues (units.json "queues"). Each task carries an OIDC token for the
# tasks identity, audience = the target function's URL; the enqueuers may act as it.
resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues

  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = 50
    max_concurrent_dispatches = 100
  }

  retry_config {
    max_attempts  = each.value.max_attempts
    min_backoff   = "${each.value.min_backoff_seconds}s"
    max_backoff   = "${each.value.max_backoff_seconds}s"
    max_doublings = 8
    # A webhook delivery is tried for a day after its first attempt, then dropped
    # (decision record 0087); the function also refuses a try past a day from the event.
    max_retry_duration = try("${each.value.max_retry_duration_seconds}s", null)
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.api]
}
