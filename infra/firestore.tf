# Point-in-time recovery stays on: submitted content is never stored in Firestore (always
# a storage object, decision record 0027), so a recovered version holds no file's bytes.
resource "google_firestore_database" "main" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.api]
}

# Every composite index the repositories' queries need; tests/integration/
# test_firestore_indexes.py fails the build when a query has none.
resource "google_firestore_index" "composite" {
  for_each = {
    for index in local.indexes.indexes :
    join("/", concat([index.collectionGroup], [for f in index.fields : "${f.fieldPath}:${f.order}"])) => index
  }

  database    = google_firestore_database.main.name
  collection  = each.value.collectionGroup
  query_scope = each.value.queryScope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.fieldPath
      order      = fields.value.order
    }
  }
}

# Field overrides: TTL where Firestore should expire documents itself, and no single-
# field indexes on large user-supplied fields (they would cap document size and cost
# writes for queries no one makes).
#
# TTL (decision record 0028) covers bookkeeping only: records that exist to fence or
# de-duplicate a delivery and mean nothing once it can no longer repeat —
# callback_receipts, upload_events, upload_grants and upload_url_grants (`expire_at`),
# idempotency_keys (`expires_at`). Never runs, submissions or findings (their retention
# is the purge's, and the purge's marks on them are its audit), nor purge_retries (work
# still to do), nor uploaders (configuration).
# tests/infra/test_firestore_ttl.py holds this list to the models.
resource "google_firestore_field" "override" {
  for_each = {
    for o in local.indexes.fieldOverrides : "${o.collectionGroup}.${o.fieldPath}" => o
  }

  database   = google_firestore_database.main.name
  collection = each.value.collectionGroup
  field      = each.value.fieldPath

  index_config {}

  dynamic "ttl_config" {
    for_each = try(each.value.ttl, false) ? [1] : []
    content {}
  }
}
