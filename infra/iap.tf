# People reach the console through Identity-Aware Proxy (decision record 0070): an
# external HTTPS load balancer whose backend is the console's Cloud Run service, with IAP
# on that backend, letting in only var.console_members. The console checks IAP's signed
# header itself too (shared/api/auth/iap.py), for the audience this file outputs.
#
# Off (count 0) until the console function exists: var.console_enabled turns it on once
# units.json deploys a function named var.console_service.

resource "google_project_service" "iap" {
  count = var.console_enabled ? 1 : 0

  service            = "iap.googleapis.com"
  disable_on_destroy = false
}

resource "google_compute_region_network_endpoint_group" "console" {
  count = var.console_enabled ? 1 : 0

  name                  = "assay-console"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = var.console_service
  }
}

resource "google_compute_backend_service" "console" {
  count = var.console_enabled ? 1 : 0

  name                  = "assay-console"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.console[0].id
  }

  # With no OAuth client named, IAP uses a Google-managed one.
  iap {
    enabled = true
  }

  log_config {
    enable      = true
    sample_rate = 1
  }

  depends_on = [google_project_service.iap]
}

# Who may pass the proxy: the domain, groups or people of var.console_members. Passing it
# is not membership: the console still shows a person only the orgs they are a member of.
resource "google_iap_web_backend_service_iam_binding" "console" {
  count = var.console_enabled ? 1 : 0

  web_backend_service = google_compute_backend_service.console[0].name
  role                = "roles/iap.httpsResourceAccessor"
  members             = var.console_members
}

resource "google_compute_global_address" "console" {
  count = var.console_enabled ? 1 : 0

  name = "assay-console"
}

resource "google_compute_managed_ssl_certificate" "console" {
  count = var.console_enabled ? 1 : 0

  name = "assay-console"

  managed {
    domains = [var.console_domain]
  }

  lifecycle {
    precondition {
      condition     = var.console_domain != ""
      error_message = "console_enabled needs console_domain, the console's host name."
    }
  }
}

resource "google_compute_ssl_policy" "console" {
  count = var.console_enabled ? 1 : 0

  name            = "assay-console"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_url_map" "console" {
  count = var.console_enabled ? 1 : 0

  name            = "assay-console"
  default_service = google_compute_backend_service.console[0].id
}

resource "google_compute_target_https_proxy" "console" {
  count = var.console_enabled ? 1 : 0

  name             = "assay-console"
  url_map          = google_compute_url_map.console[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.console[0].id]
  ssl_policy       = google_compute_ssl_policy.console[0].id
}

resource "google_compute_global_forwarding_rule" "console" {
  count = var.console_enabled ? 1 : 0

  name                  = "assay-console"
  target                = google_compute_target_https_proxy.console[0].id
  ip_address            = google_compute_global_address.console[0].id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

output "console_iap_audience" {
  description = "The audience of IAP's signed header for the console (ASSAY_IAP_AUDIENCE); null while the console is off."
  value = (
    var.console_enabled
    ? "/projects/${data.google_project.this.number}/global/backendServices/${google_compute_backend_service.console[0].generated_id}"
    : null
  )
}

output "console_address" {
  description = "The console's IP address: point var.console_domain's DNS A record here; null while the console is off."
  value       = var.console_enabled ? google_compute_global_address.console[0].address : null
}
