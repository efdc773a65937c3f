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
