output "instance_id" {
  description = "EC2 instance id."
  value       = aws_instance.this.id
}

output "public_ip" {
  description = "Public IPv4 address; empty when the subnet assigns none."
  value       = aws_instance.this.public_ip
}

output "private_ip" {
  description = "Private IPv4 address in the subnet."
  value       = aws_instance.this.private_ip
}

output "public_dns" {
  description = "Public DNS name; empty when the instance has no public address."
  value       = aws_instance.this.public_dns
}

output "ami_id" {
  description = "AMI the instance was launched from."
  value       = aws_instance.this.ami
}

output "security_group_id" {
  description = "The job's own security group (published ports, SSH when asked, all outbound); the given security_group_ids are attached to the instance as well."
  value       = aws_security_group.instance.id
}
