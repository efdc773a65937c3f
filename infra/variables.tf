variable "project_id" {
  description = "The Google Cloud project Assay is deployed into."
  type        = string
}

variable "region" {
  description = "Region of the functions, jobs, queue, schedules, buckets and registry."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Location of the Firestore database (a multi-region such as nam5, or a region)."
  type        = string
  default     = "nam5"
}

variable "release" {
  description = "The release being deployed: the git commit the images are tagged with and the validators report as VALIDATOR_VERSION."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{7,40}$", var.release))
    error_message = "release must be a git commit sha (7 to 40 hex digits)."
  }
}

variable "functions_source_zip" {
  description = "Path of the zip of build/functions (make stage) to deploy."
  type        = string
}

variable "max_instances" {
  description = "Upper bound of instances per function: a cost ceiling under a flood."
  type        = number
  default     = 20
}

variable "validator_subnet_cidr" {
  description = "Address range of the validator jobs' subnetwork (network.tf). Direct VPC egress takes 2 to 4 addresses per running task (Cloud Run reserves them 16 at a time): a /24 serves 60 to 120 validator executions at once."
  type        = string
  default     = "10.8.0.0/24"

  validation {
    condition     = can(cidrnetmask(var.validator_subnet_cidr)) && can(regex("/([0-9]|1[0-9]|2[0-6])$", var.validator_subnet_cidr))
    error_message = "validator_subnet_cidr must be an IPv4 range of /26 or larger: Direct VPC egress reserves addresses 16 at a time."
  }
}

variable "console_enabled" {
  description = "Put the console behind Identity-Aware Proxy (iap.tf). Unset (null), it is on exactly when console_domain is set; false keeps it off."
  type        = bool
  default     = null
}

variable "console_domain" {
  description = "The console's host name, for its Google-managed certificate (its DNS A record points at the console_address output)."
  type        = string
  default     = ""

  validation {
    condition     = var.console_domain == "" || can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.console_domain))
    error_message = "console_domain must be a host name such as console.example.com."
  }
}

variable "console_members" {
  description = "Who IAP lets through to the console: \"domain:example.com\", \"group:assay@example.com\" or \"user:ada@example.com\". Passing IAP is not membership: a person sees only the orgs they are a member of."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.console_members : can(regex("^(domain|group|user):[^\\s:]+$", m))])
    error_message = "console_members are domain:, group: or user: entries (never allUsers or allAuthenticatedUsers)."
  }
}
