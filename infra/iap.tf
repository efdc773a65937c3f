# People reach the console through Identity-Aware Proxy (decision record 0070): an
# external HTTPS load balancer whose backend is the console's Cloud Run service, with IAP
# on that backend, letting in only var.console_members. The console checks IAP's signed
# header itself too (shared/api/auth/iap.py), for the audience this file outputs.
#
# The console is units.json's https-iap function. All of this is on once
# var.console_domain names its host (local.console_enabled; var.console_enabled = false
# keeps it off). While off, the console function is deployed but nobody may invoke it.
# Its one invoker is IAP's service agent (iam.tf), and it is given the audience below
# (functions.tf), so a deploy needs no second apply.

resource "google_project_service" "iap" {
  count = local.console_enabled ? 1 : 0

  service            = "iap.googleapis.com"
  disable_on_destroy = false
}

resource "google_compute_region_network_endpoint_group" "console" {
  count = local.console_enabled ? 1 : 0

  name                  = "assay-console"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = local.console_function
  }
}

resource "google_compute_backend_service" "console" {
  count = local.console_enabled ? 1 : 0

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
  count = local.console_enabled ? 1 : 0

  web_backend_service = google_compute_backend_service.console[0].name
  role                = "roles/iap.httpsResourceAccessor"
  members             = var.console_members

  lifecycle {
    precondition {
      condition     = length(var.console_members) > 0
      error_message = "The console needs console_members: who may pass IAP (domain:, group: or user:)."
    }
  }
}

resource "google_compute_global_address" "console" {
  count = local.console_enabled ? 1 : 0

  name = "assay-console"
}

resource "google_compute_managed_ssl_certificate" "console" {
  count = local.console_enabled ? 1 : 0

  name = "assay-console"

  managed {
    domains = [var.console_domain]
  }

  lifecycle {
    precondition {
      condition     = var.console_domain != ""
      error_message = "console_enabled = true needs console_domain, the console's host name."
    }
  }
}

resource "google_compute_ssl_policy" "console" {
  count = local.console_enabled ? 1 : 0

  name            = "assay-console"
  profile         = "RESTRICTED"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_url_map" "console" {
  count = local.console_enabled ? 1 : 0

  name            = "assay-console"
  default_service = google_compute_backend_service.console[0].id
}

resource "google_compute_target_https_proxy" "console" {
  count = local.console_enabled ? 1 : 0

  name             = "assay-console"
  url_map          = google_compute_url_map.console[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.console[0].id]
  ssl_policy       = google_compute_ssl_policy.console[0].id
}

resource "google_compute_global_forwarding_rule" "console" {
  count = local.console_enabled ? 1 : 0

  name                  = "assay-console"
  target                = google_compute_target_https_proxy.console[0].id
  ip_address            = google_compute_global_address.console[0].id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

locals {
  # The audience of IAP's assertions for the console's backend service; "" while off.
  console_iap_audience = (
    local.console_enabled
    ? "/projects/${data.google_project.this.number}/global/backendServices/${google_compute_backend_service.console[0].generated_id}"
    : ""
  )
  # IAP's service agent: what calls the console function once a person has passed IAP.
  iap_service_agent = "service-${data.google_project.this.number}@gcp-sa-iap.iam.gserviceaccount.com"
}

output "console_iap_audience" {
  description = "The audience of IAP's signed header for the console (the console function's ASSAY_IAP_AUDIENCE); null while the console is off."
  value       = local.console_enabled ? local.console_iap_audience : null
}

output "console_url" {
  description = "Where people open the console (ASSAY_CONSOLE_URL); null while the console is off."
  value       = local.console_enabled ? "https://${var.console_domain}" : null
}

output "console_address" {
  description = "The console's IP address: point var.console_domain's DNS A record here; null while the console is off."
  value       = local.console_enabled ? google_compute_global_address.console[0].address : null
}
