# Webhooks (decision record 0087). The webhooks function runs as an identity of its own:
# it calls URLs an org registered, so it holds nothing a receiver could make use of,
# only Firestore (runs, webhooks, attempts) and the webhooks queue for its fan-out.
# Its invoker (Cloud Tasks' identity) and its queue come from units.json.

resource "google_project_iam_member" "webhooks_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.identity["webhooks"].email}"
}

# A run ends in the api (a cancel, the fast path) or the worker (callback, launch,
# reconcile): each queues the run's event; the webhooks function queues its deliveries.
resource "google_cloud_tasks_queue_iam_member" "webhooks_enqueuer" {
  for_each = toset(["api", "worker", "webhooks"])

  location = var.region
  name     = google_cloud_tasks_queue.queue["webhooks"].name
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.identity[each.key].email}"
}

resource "google_service_account_iam_member" "webhooks_acts_as_tasks" {
  service_account_id = google_service_account.identity["tasks"].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.identity["webhooks"].email}"
}
