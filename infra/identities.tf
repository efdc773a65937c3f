# One service account per role (units.json "identities") and one per validator job, so
# each can be granted exactly what it needs and nothing another role needs.
resource "google_service_account" "identity" {
  for_each = local.units.identities

  account_id   = "assay-${each.key}"
  display_name = "Assay ${each.key}"
  description  = each.value

  depends_on = [google_project_service.api]
}

resource "google_service_account" "job" {
  for_each = local.jobs

  account_id   = "assay-${each.key}"
  display_name = "Assay ${each.key}"
  description  = "The ${each.value.validator} validator job: reads its run's bundle, writes its output, calls back."

  depends_on = [google_project_service.api]
}

# Google-managed agents that act for Assay's triggers.
data "google_storage_project_service_account" "gcs" {
  depends_on = [google_project_service.api]
}
