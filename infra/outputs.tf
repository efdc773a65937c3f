output "api_url" {
  description = "The public API."
  value       = local.function_urls["api"]
}

output "function_urls" {
  description = "Every function's URL."
  value       = local.function_urls
}

output "buckets" {
  description = "Bucket per role: content (ASSAY_STORAGE_URI) and uploads (ASSAY_UPLOADS_URI)."
  value       = { for role, b in google_storage_bucket.unit : role => "gs://${b.name}" }
}

output "image_repository" {
  description = "Where Cloud Build pushes the validator images (NAME:RELEASE)."
  value       = local.image_repository
}

output "service_accounts" {
  description = "The service account of each role and of each validator job."
  value = merge(
    { for role, sa in google_service_account.identity : role => sa.email },
    { for job, sa in google_service_account.job : job => sa.email },
  )
}
