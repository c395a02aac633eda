# One EC2 instance that runs a job's containers: IMDSv2 only, encrypted root
# volume, reachable through Session Manager, and a security group of its own
# that opens only what the containers publish (plus SSH when asked); security
# groups given in security_group_ids are attached in addition to it.
# Credentials come from the environment (the service's assumed role), never
# from variables.

provider "aws" {
  region = var.region
}

locals {
  tags = merge(
    {
      job_id     = var.job_id
      job_name   = var.job_name
      requester  = var.requester
      managed_by = "provisioning-service"
    },
    var.created_by != "" ? { created_by = var.created_by } : {},
  )
  name = "${var.job_name}-${var.job_id}"
  # IAM name prefixes may be at most 38 characters.
  iam_prefix = "prov-${substr(var.job_name, 0, 24)}-"

  ingress = { for p in var.published_ports : "${p.protocol}-${p.port}" => p }
  # A container publishing 22/tcp to the same CIDR already opens SSH; AWS refuses duplicate rules.
  open_ssh = var.ssh_cidr != "" && !(var.ssh_cidr == var.ingress_cidr && contains(keys(local.ingress), "tcp-22"))

  # ARTIFACTS_BUCKET: the instance fetches its compose file and users list from its job's own prefix.
  artifacts         = var.artifacts_bucket != ""
  artifacts_objects = "${var.artifacts_bucket}/${var.artifacts_prefix}*"
}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.${data.aws_partition.current.dns_suffix}"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name_prefix        = local.iam_prefix
  description        = "Instance role of provisioning job ${var.job_id} (Session Manager access only${local.artifacts ? ", and reading its own files in S3" : ""})"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

# Reading its own job's files (the compose file and the users list) and nothing else in the bucket.
data "aws_iam_policy_document" "artifacts" {
  count = local.artifacts ? 1 : 0

  statement {
    sid       = "ReadOwnJobArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${local.artifacts_objects}"]
  }
}

resource "aws_iam_role_policy" "artifacts" {
  count = local.artifacts ? 1 : 0

  name_prefix = "job-artifacts-"
  role        = aws_iam_role.instance.id
  policy      = data.aws_iam_policy_document.artifacts[0].json

  lifecycle {
    precondition {
      condition     = endswith(var.artifacts_prefix, "/${var.job_id}/") || var.artifacts_prefix == "${var.job_id}/"
      error_message = "artifacts_prefix must be the job's own prefix, ending in /<job_id>/."
    }
  }
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = local.iam_prefix
  role        = aws_iam_role.instance.name
  tags        = local.tags
}

# The job's own group, always created: the given security_group_ids come on top of it.
resource "aws_security_group" "instance" {
  name_prefix = "prov-${var.job_name}-"
  description = "Published container ports of provisioning job ${var.job_id}"
  vpc_id      = var.vpc_id != "" ? var.vpc_id : null
  tags        = merge(local.tags, { Name = local.name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "published" {
  for_each = local.ingress

  security_group_id = aws_security_group.instance.id
  description       = "container ${each.value.container} ${each.value.port}/${each.value.protocol}"
  cidr_ipv4         = var.ingress_cidr
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  count = local.open_ssh ? 1 : 0

  security_group_id = aws_security_group.instance.id
  description       = "SSH"
  cidr_ipv4         = var.ssh_cidr
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  tags              = local.tags
}

# Docker images, packages, the compose plugin download and SSM all need the way out.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.instance.id
  description       = "All outbound"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  tags              = local.tags
}

resource "aws_instance" "this" {
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id != "" ? var.subnet_id : null
  vpc_security_group_ids = concat([aws_security_group.instance.id], var.security_group_ids)
  iam_instance_profile   = aws_iam_instance_profile.instance.name

  user_data        = var.user_data != "" ? var.user_data : null
  user_data_base64 = var.user_data_base64 != "" ? var.user_data_base64 : null

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.metadata_hop_limit
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.volume_size_gb
    encrypted             = true
    delete_on_termination = true
    tags                  = merge(local.tags, { Name = local.name })
  }

  tags = merge(local.tags, { Name = local.name })

  lifecycle {
    precondition {
      condition     = var.user_data == "" || var.user_data_base64 == ""
      error_message = "Set user_data or user_data_base64, not both."
    }
    # The first-boot script runs once; a revision changes containers and users on the running
    # instance (Run Command), so a new script must not replace (or stop) the instance. A
    # replacement for another reason (a new AMI) boots with the current script all the same.
    # instance_type and the root volume's size change in place: the provider stops and starts
    # the instance for a new type, and grows the volume online.
    ignore_changes = [user_data, user_data_base64]
  }

  # The instance profile needs the SSM policy before the agent first starts, and the artifacts
  # policy before the first-boot script fetches the job's files.
  depends_on = [aws_iam_role_policy_attachment.ssm, aws_iam_role_policy.artifacts]
}
