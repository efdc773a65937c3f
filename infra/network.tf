# The validator jobs' network (decision record 0022): a validator parses hostile files, so
# its job has no way out but Google's APIs. Every job sends ALL of its traffic into this
# network (Direct VPC egress, jobs.tf), where:
# - the only route leaves for private.googleapis.com (199.36.153.8/30), the Private Google
#   Access VIP: the network is created without its default internet route, and there is
#   no Cloud Router, no Cloud NAT and no external address;
# - the firewall denies every egress but TCP 443 to that VIP;
# - private DNS points googleapis.com (Cloud Storage) and run.app (the callback's URL) at
#   the VIP, so the names a job uses resolve to the one place it can reach.
# The metadata server (tokens, DNS) is reached outside the network, as always.
locals {
  # private.googleapis.com: most Google APIs and *.run.app, not announced to the internet.
  private_google_access_range = "199.36.153.8/30"
  private_google_access_ips   = ["199.36.153.8", "199.36.153.9", "199.36.153.10", "199.36.153.11"]
}

resource "google_compute_network" "validators" {
  name                    = "assay-validators"
  description             = "Validator jobs only: Google APIs through Private Google Access, nothing else."
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
  # No 0.0.0.0/0 route to the default internet gateway, ever: the route below is the
  # only one that leaves the network.
  delete_default_routes_on_create = true

  depends_on = [google_project_service.api]
}

resource "google_compute_subnetwork" "validators" {
  name                     = "assay-validators-${var.region}"
  description              = "Direct VPC egress of the validator jobs."
  network                  = google_compute_network.validators.id
  region                   = var.region
  ip_cidr_range            = var.validator_subnet_cidr
  stack_type               = "IPV4_ONLY"
  private_ip_google_access = true

  # What a job connected to, sampled; the jobs' only other record is their own logs.
  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# The one route out: to the Private Google Access VIP. Private Google Access needs the
# default internet gateway as next hop; traffic to this range stays in Google's network.
resource "google_compute_route" "private_google_access" {
  name             = "assay-validators-private-google-access"
  description      = "private.googleapis.com only; the network has no default route."
  network          = google_compute_network.validators.name
  dest_range       = local.private_google_access_range
  next_hop_gateway = "default-internet-gateway"
  priority         = 1000
}

# Firewall: TCP 443 to the VIP is allowed, every other egress is denied (IPv4 and, should
# the subnet ever get IPv6, IPv6). Ingress is left to the implied deny-all rule: nothing
# calls a job.
resource "google_compute_firewall" "allow_private_google_access" {
  name               = "assay-validators-allow-google-apis"
  description        = "Validator jobs may reach Google APIs and run.app through the private VIP, on HTTPS only."
  network            = google_compute_network.validators.name
  direction          = "EGRESS"
  priority           = 1000
  destination_ranges = [local.private_google_access_range]

  allow {
    protocol = "tcp"
    ports    = ["443"]
  }
}

resource "google_compute_firewall" "deny_egress" {
  for_each = {
    ipv4 = "0.0.0.0/0"
    ipv6 = "::/0"
  }

  name               = "assay-validators-deny-egress-${each.key}"
  description        = "Everything a validator job sends anywhere else is dropped."
  network            = google_compute_network.validators.name
  direction          = "EGRESS"
  priority           = 65534
  destination_ranges = [each.value]

  deny {
    protocol = "all"
  }
}

# Private DNS, visible to this network only: the names a job uses resolve to the VIP.
# googleapis.com: storage.googleapis.com (Cloud Storage), and any other API a client asks.
# run.app: the callback's deterministic URL (https://callback-NUMBER.REGION.run.app), which
# Cloud Run serves through the same VIP; a request that arrives this way comes from a VPC
# network of the project, which Cloud Run counts as internal traffic.
resource "google_dns_managed_zone" "private_google_access" {
  for_each = {
    googleapis = "googleapis.com."
    run-app    = "run.app."
  }

  name        = "assay-validators-${each.key}"
  dns_name    = each.value
  description = "${each.value} to private.googleapis.com's addresses, for the validator jobs' network."
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = google_compute_network.validators.id
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_dns_record_set" "private_google_access" {
  for_each = {
    "private.googleapis.com." = { zone = "googleapis", type = "A", rrdatas = local.private_google_access_ips }
    "*.googleapis.com."       = { zone = "googleapis", type = "CNAME", rrdatas = ["private.googleapis.com."] }
    "run.app."                = { zone = "run-app", type = "A", rrdatas = local.private_google_access_ips }
    "*.run.app."              = { zone = "run-app", type = "CNAME", rrdatas = ["run.app."] }
    # The region's own wildcard, so the callback's name does not depend on a wildcard
    # matching across two labels.
    "*.${var.region}.run.app." = { zone = "run-app", type = "CNAME", rrdatas = ["run.app."] }
  }

  managed_zone = google_dns_managed_zone.private_google_access[each.value.zone].name
  name         = each.key
  type         = each.value.type
  ttl          = 300
  rrdatas      = each.value.rrdatas
}
