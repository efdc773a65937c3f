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

output "validator_network" {
  description = "Where the validator jobs' traffic goes (network.tf): their network, subnetwork and its range, and the one range they can reach (private.googleapis.com)."
  value = {
    network    = google_compute_network.validators.name
    subnetwork = google_compute_subnetwork.validators.name
    range      = google_compute_subnetwork.validators.ip_cidr_range
    reachable  = local.private_google_access_range
    dns_zones  = { for key, zone in google_dns_managed_zone.private_google_access : key => zone.dns_name }
  }
}
