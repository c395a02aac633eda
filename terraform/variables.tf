# Inputs of the AWS module. The service writes them to terraform.tfvars.json
# (src/activities/tfvars.ts renderTfvars); the rules mirror the zod job spec
# in src/domain/jobSpec.ts and containers.ts, so a hand-written tfvars file
# gets the same refusals the form gives. Optional strings use "" for "not given".

variable "job_id" {
  type        = string
  description = "Id of the provisioning job; tags every resource and names the instance."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.job_id))
    error_message = "job_id must be 1-64 letters, digits, _ or -."
  }
}

variable "job_name" {
  type        = string
  description = "The job's name as the requester chose it (tag job_name, instance Name)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,62}$", var.job_name))
    error_message = "job_name must be 2-63 lowercase letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "requester" {
  type        = string
  description = "Email address of whoever asked for the environment (tag requester)."

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.requester)) && length(var.requester) <= 254
    error_message = "requester must be an email address."
  }
}

variable "created_by" {
  type        = string
  description = "The service user or API token that created the job (tag created_by); \"\" leaves the tag out."
  default     = ""

  validation {
    condition     = length(var.created_by) <= 256
    error_message = "created_by must be at most 256 characters (an AWS tag value)."
  }
}

variable "region" {
  type        = string
  description = "AWS region to provision into (the service checks it against ALLOWED_REGIONS)."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type (the service checks it against ALLOWED_INSTANCE_TYPES)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type such as t3.micro."
  }
}

variable "volume_size_gb" {
  type        = number
  description = "Size of the encrypted gp3 root volume in GiB."
  default     = 20

  validation {
    condition     = var.volume_size_gb >= 8 && var.volume_size_gb <= 1024 && floor(var.volume_size_gb) == var.volume_size_gb
    error_message = "volume_size_gb must be a whole number from 8 to 1024."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI to launch: the job's own, or the latest Amazon Linux 2023 that pre-flight resolved."

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI id: ami- and 8 or 17 hex digits."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of subnet_id, where the job's own security group goes; \"\" uses the region's default VPC."
  default     = ""

  validation {
    condition     = var.vpc_id == "" || can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be \"\" or a VPC id: vpc- and 8 or 17 hex digits."
  }
}

variable "subnet_id" {
  type        = string
  description = "Subnet to launch into; \"\" uses a default subnet of the default VPC."
  default     = ""

  validation {
    condition     = var.subnet_id == "" || can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "subnet_id must be \"\" or a subnet id: subnet- and 8 or 17 hex digits."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Existing security groups of the VPC to attach in addition to the job's own group (which opens only the published ports, and SSH when ssh_cidr is set)."
  default     = []

  validation {
    condition     = length(var.security_group_ids) <= 4 && alltrue([for id in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", id))])
    error_message = "security_group_ids must hold at most 4 security group ids (sg- and 8 or 17 hex digits)."
  }
}

variable "ingress_cidr" {
  type        = string
  description = "IPv4 CIDR allowed to reach the published container ports through the job's own security group."
  default     = "0.0.0.0/0"

  validation {
    condition     = can(cidrnetmask(var.ingress_cidr)) && try(cidrhost(var.ingress_cidr, 0) == split("/", var.ingress_cidr)[0], false)
    error_message = "ingress_cidr must be an IPv4 network in CIDR form with no host bits set, such as 203.0.113.0/24."
  }
}

variable "ssh_cidr" {
  type        = string
  description = "IPv4 CIDR allowed to reach SSH (22/tcp); \"\" keeps SSH closed. Session Manager works either way."
  default     = ""

  validation {
    condition     = var.ssh_cidr == "" || (can(cidrnetmask(var.ssh_cidr)) && try(cidrhost(var.ssh_cidr, 0) == split("/", var.ssh_cidr)[0], false))
    error_message = "ssh_cidr must be \"\" or an IPv4 network in CIDR form with no host bits set, such as 203.0.113.0/24."
  }
}

variable "published_ports" {
  type = list(object({
    port      = number
    protocol  = string
    container = string
  }))
  description = "Host ports the containers publish, one entry per port and protocol; the job's own security group opens exactly these."
  default     = []

  validation {
    condition     = length(var.published_ports) <= 50
    error_message = "published_ports may hold at most 50 entries (a security group allows 60 inbound rules)."
  }

  validation {
    condition     = alltrue([for p in var.published_ports : p.port >= 1 && p.port <= 65535 && floor(p.port) == p.port])
    error_message = "published_ports: every port must be a whole number from 1 to 65535."
  }

  validation {
    condition     = alltrue([for p in var.published_ports : contains(["tcp", "udp"], p.protocol)])
    error_message = "published_ports: protocol must be tcp or udp."
  }

  validation {
    condition     = length(distinct([for p in var.published_ports : "${p.port}/${p.protocol}"])) == length(var.published_ports)
    error_message = "published_ports: each port and protocol may appear only once."
  }

  validation {
    condition     = alltrue([for p in var.published_ports : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", p.container))])
    error_message = "published_ports: container must be the container's name (a DNS label)."
  }
}

variable "metadata_hop_limit" {
  type        = number
  description = "IMDSv2 response hop limit: 1 keeps instance metadata (and the instance role) away from containers, 2 lets them reach it."
  default     = 1

  validation {
    condition     = contains([1, 2], var.metadata_hop_limit)
    error_message = "metadata_hop_limit must be 1 or 2."
  }
}

variable "user_data" {
  type        = string
  description = "First-boot script in plain text (rendered by the service); set this or user_data_base64, not both."
  default     = ""
  # Not secret by contract, but it carries the users list and is long: keep it out of plan output.
  sensitive = true

  validation {
    condition     = length(var.user_data) <= 16384
    error_message = "user_data must be at most 16384 characters (the EC2 limit); the service gzips larger scripts into user_data_base64."
  }
}

variable "user_data_base64" {
  type        = string
  description = "Gzip-compressed first-boot script, base64-encoded (cloud-init unpacks it); set this or user_data, not both."
  default     = ""
  sensitive   = true

  validation {
    # 16384 raw bytes encode to at most 21848 base64 characters.
    condition     = length(var.user_data_base64) <= 21848 && can(regex("^[A-Za-z0-9+/]*={0,2}$", var.user_data_base64))
    error_message = "user_data_base64 must be base64 of at most 16384 bytes."
  }
}

variable "artifacts_bucket" {
  type        = string
  description = "S3 bucket holding the job's compose file and users list (ARTIFACTS_BUCKET), which the first-boot script fetches; \"\" when they travel in the user data."
  default     = ""

  validation {
    condition     = var.artifacts_bucket == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts_bucket))
    error_message = "artifacts_bucket must be \"\" or an S3 bucket name."
  }
}

variable "artifacts_prefix" {
  type        = string
  description = "The job's own key prefix in artifacts_bucket, ending in / (<ARTIFACTS_PREFIX>/<job_id>/): the instance role may read the objects below it and nothing else; \"\" without a bucket."
  default     = ""

  validation {
    condition     = var.artifacts_prefix == "" || can(regex("^([A-Za-z0-9_-][A-Za-z0-9._-]*/)+$", var.artifacts_prefix))
    error_message = "artifacts_prefix must be \"\" or key prefix names of letters, digits, . _ and - each followed by /, such as provisioning/artifacts/job-1/."
  }
}
