# The image Cloud Build runs `make test` and `make stage` in: what .ci/run finds on a
# CI machine (Python 3.11, Java 17 for the Firestore emulator, the Google Cloud CLI
# with that emulator, Terraform, make, zip), pinned.
FROM gcr.io/google.com/cloudsdktool/google-cloud-cli:528.0.0-emulators

ARG TERRAFORM_VERSION=1.11.4
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends make zip unzip python3-venv python3-pip curl \
 && curl -fsSL -o /tmp/terraform.zip \
    "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_amd64.zip" \
 && unzip -q /tmp/terraform.zip -d /usr/local/bin \
 && rm /tmp/terraform.zip \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace
