"""Secrets planted in a failed step's log, one per way a secret shows up in real build output.

Every value is unique, so finding it anywhere Azura writes or sends is a leak. `KNOWN` are values a run knows
without recognising their shape (the job's token, the LLM key, secret pipeline variables, secret-named variables
mapped into a script step); the log holds them as they are, base64-encoded and URL-encoded.
"""
from __future__ import annotations

import base64
from typing import List, Tuple
from urllib.parse import quote

ACCESS_TOKEN = "jobAccessTokenQ7x2Lm9Pz4Vt8Rk1Wn6Yb3Hc5Jd0Fs"
LLM_KEY = "sk-emulator-llm-key-5e8d0c6b2a91f3"
TASK_SECRET = "task/secret+Variable=Value!742"  # AZURA_SECRETS, from the task's secret variables
MAPPED_SECRET = "mappedDeployPassw0rd-618"  # a secret variable a script step maps in as DEPLOY_PASSWORD


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# (what it is, the log line, the secret in it)
PLANTED: List[Tuple[str, str, str]] = [
    ("shell assignment, prefixed name", "export DB_PASSWORD=Pl4nted-db-pass-01", "Pl4nted-db-pass-01"),
    ("GitHub token by name", "GITHUB_TOKEN=planted-github-token-value-02 ./release.sh",
     "planted-github-token-value-02"),
    ("Azure client secret by name", "set AZURE_CLIENT_SECRET=planted.client~secret_03", "planted.client~secret_03"),
    ("npm token", "//registry.npmjs.org/:_authToken=npm_PlAnTeD04xEEsAoCaA2QTqpOoast0vQj8VMtb",
     "npm_PlAnTeD04xEEsAoCaA2QTqpOoast0vQj8VMtb"),
    ("npmrc auth token", "//pkgs.dev.azure.com/c/_packaging/f/npm/registry/:_authToken=planted-npmrc-token-05",
     "planted-npmrc-token-05"),
    ("PyPI token", "twine upload -u __token__ -p pypi-AgEIcHlwaS5vcmcPlAnTeD06nBo1nKo63sZEqqZ3CYxU-w0A2c_MLpjN-E8A4r_kn",
     "pypi-AgEIcHlwaS5vcmcPlAnTeD06nBo1nKo63sZEqqZ3CYxU-w0A2c_MLpjN-E8A4r_kn"),
    ("twine password", "TWINE_PASSWORD=planted-twine-pass-07", "planted-twine-pass-07"),
    ("storage key outside AccountKey=",
     "az storage blob upload --account-key PlAnTeD08cwfvHCU+e/qFO81VQFL0b0aA3taBrdmzEZJb6hPNOQFEfKsGPSpFk/gMFIYtKhSWbBTkPRU2NFoyl== -f x",
     "PlAnTeD08cwfvHCU+e/qFO81VQFL0b0aA3taBrdmzEZJb6hPNOQFEfKsGPSpFk/gMFIYtKhSWbBTkPRU2NFoyl=="),
    ("storage connection string",
     "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=planted+account/key09==;EndpointSuffix=core.windows.net",
     "planted+account/key09=="),
    ("AWS secret key in JSON", '{"AccessKeyId": "AKIAPLANTED10XYZQWER", "SecretAccessKey": "planted/aws+secret/key/10"}',
     "planted/aws+secret/key/10"),
    ("AWS access key id", 'aws configure set aws_access_key_id AKIAPLANTED11ABCDEFG', "AKIAPLANTED11ABCDEFG"),
    ("docker login -p", "docker login -u build -p planted-docker-pass-12 contoso.azurecr.io", "planted-docker-pass-12"),
    ("mysql -p", "mysql -uroot -pplanted-mysql-13 -h 127.0.0.1 app", "planted-mysql-13"),
    ("OpenAI project key", "Incorrect API key provided: sk-proj-PlAnTeD14aCQYAhIcXhsCAIdB89Sr6wnyclVKmtexpDSA3",
     "sk-proj-PlAnTeD14aCQYAhIcXhsCAIdB89Sr6wnyclVKmtexpDSA3"),
    ("lowercase bearer", "retrying with header authorization: bearer planted15bearer0token", "planted15bearer0token"),
    ("--api-key", "cli deploy --api-key planted-api-key-16 --region westeurope", "planted-api-key-16"),
    ("APIM subscription key", 'curl -H "Ocp-Apim-Subscription-Key: planted17subscription" https://api.contoso.com',
     "planted17subscription"),
    ("docker config auth", '{"auths": {"contoso.azurecr.io": {"auth": "cGxhbnRlZDE4OmRvY2tlcmF1dGg="}}}',
     "cGxhbnRlZDE4OmRvY2tlcmF1dGg="),
    ("GitHub classic token", "git push https://x-access-token:ghp_PlAnTeD19sAoCaA2QTqpOoast0vQj8VMtbYo@github.com/o/r",
     "ghp_PlAnTeD19sAoCaA2QTqpOoast0vQj8VMtbYo"),
    ("JWT", "id_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkMjAifQ.PlAnTeD20dozjgNryP4J3jVmNHl0w5N_Xg",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkMjAifQ.PlAnTeD20dozjgNryP4J3jVmNHl0w5N_Xg"),
    ("private key in service-account JSON",
     '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvPlAnTeD21QIBADANBgkqhkiG9w0BAQEF\\n-----END PRIVATE KEY-----\\n"}',
     "MIIEvPlAnTeD21QIBADANBgkqhkiG9w0BAQEF"),
    ("PEM body line", "PlAnTeD22+aqqGYG+5U/bXVbAshrPILiBP5+rrCfJnPocKJqopvJWeynVk1BtWU+",
     "PlAnTeD22+aqqGYG+5U/bXVbAshrPILiBP5+rrCfJnPocKJqopvJWeynVk1BtWU+"),
    ("GCP API key", "GET https://maps.googleapis.com/maps/api/geocode/json?key=AIzaPlAnTeD23vV1LUBuzfkJacmIynp--TcaXYZ",
     "AIzaPlAnTeD23vV1LUBuzfkJacmIynp--TcaXYZ"),
    ("Slack token", "SLACK_BOT_TOKEN: xoxb-146156976393-4232265120326-PlAnTeD24s4BvSYuY8zmvpDb",
     "xoxb-146156976393-4232265120326-PlAnTeD24s4BvSYuY8zmvpDb"),
    ("Slack webhook", "curl -X POST https://hooks.slack.com/services/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",
     "T6XL4W23D/BOASQVP5G/PlAnTeD25xOP35cICwiLPs21"),
    ("basic-auth URL", "pip install --index-url https://build:planted-feed-pass-26@pkgs.dev.azure.com/c/f/simple/ x",
     "planted-feed-pass-26"),
    ("Authorization: Basic", 'curl -H "Authorization: Basic cGxhbnRlZDI3OmJhc2ljLWF1dGg=" https://example.com',
     "cGxhbnRlZDI3OmJhc2ljLWF1dGg="),
    ("--password", "dotnet nuget add source https://f/index.json --username build --password planted-nuget-28",
     "planted-nuget-28"),
    ("--token", "vsce publish --token planted-vsce-token-29", "planted-vsce-token-29"),
    ("PowerShell -Password", "New-AzVM -Name vm1 -AdminPassword planted-ps-pass-30", "planted-ps-pass-30"),
    ("PowerShell $env:", '$env:ARM_CLIENT_SECRET = "planted-arm-secret-31"', "planted-arm-secret-31"),
    ("YAML key", "  password: planted-yaml-pass-32", "planted-yaml-pass-32"),
    (".NET configuration", "dotnet run Db__Password=planted-dotnet-33 --ConnectionStrings:Default=x",
     "planted-dotnet-33"),
    ("connection string password with spaces", "Server=tcp:db,1433;User Id=sa;Password=planted pass 34;Encrypt=True",
     "planted pass 34"),
    ("SAS signature", "https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig=PlAnTeD35zixg2JHjfaecXMQdaD9y30aC4x%3D",
     "PlAnTeD35zixg2JHjfaecXMQdaD9y30aC4x%3D"),
    ("Entra client secret", "client secret 8pY8Q~PlAnTeD36VlXR~qtmVZLyeQLGuSNNr23W rejected",
     "8pY8Q~PlAnTeD36VlXR~qtmVZLyeQLGuSNNr23W"),
    ("Azure DevOps PAT",
     "az devops login PlAnTeD37YPlmBJ8eWMyIAgaHNpDQuwZDe8MXJS6lsfgNxXvN1G4JQQJ99DN1GR1P8UE13P6XRX7AZDOuCGf",
     "PlAnTeD37YPlmBJ8eWMyIAgaHNpDQuwZDe8MXJS6lsfgNxXvN1G4JQQJ99DN1GR1P8UE13P6XRX7AZDOuCGf"),
    ("Azure DevOps PAT, legacy", "git clone https://x:pl4nted38mkn5pnj3scgoxsodgafgkjcy3xtoklvwz2pt2jwg2y7w@dev.azure.com/c",
     "pl4nted38mkn5pnj3scgoxsodgafgkjcy3xtoklvwz2pt2jwg2y7w"),
    ("ConvertTo-SecureString", '$pw = ConvertTo-SecureString "planted-secure-39" -AsPlainText -Force',
     "planted-secure-39"),
    ("curl -u", "curl -sf -u build:planted-curl-pass-40 https://nexus.contoso.com/x", "planted-curl-pass-40"),
    ("X-Api-Key header", "curl -H 'X-Api-Key: planted41apikey' https://x", "planted41apikey"),
    ("Stripe key", "Stripe.api_key = sk_live_PlAnTeD42aNtVrfLxa2a1M5", "sk_live_PlAnTeD42aNtVrfLxa2a1M5"),
    ("GitLab token", "git clone https://oauth2:glpat-PlAnTeD43c_gmMX3Jds@gitlab.com/g/p.git", "glpat-PlAnTeD43c_gmMX3Jds"),
    ("job access token", f"debug: token {ACCESS_TOKEN} used", ACCESS_TOKEN),
    ("job access token in a Basic header",
     f'git -c http.extraheader="AUTHORIZATION: basic {_b64(":" + ACCESS_TOKEN)}" fetch', _b64(":" + ACCESS_TOKEN)),
    ("LLM key", f"config dump: llm={LLM_KEY}", LLM_KEY),
    ("task secret variable", f"deploying with {TASK_SECRET}", TASK_SECRET),
    ("task secret variable, URL-encoded", f"GET /hook?v={quote(TASK_SECRET, safe='')}", quote(TASK_SECRET, safe="")),
    ("secret variable mapped into a script", f"connecting as deploy / {MAPPED_SECRET}", MAPPED_SECRET),
]

PLANTED_LOG = ["##[section]Starting: Deploy", "==============================================================================",
               "Task         : Bash", "##[command]/usr/bin/bash /home/vsts/work/_temp/deploy.sh"] \
    + [line for _, line, _ in PLANTED] \
    + ["error: deployment failed: 401 Unauthorized", "##[error]Bash exited with code '1'.",
       "##[section]Finishing: Deploy"]
ISSUE_SECRET = "planted-issue-secret-99"
ISSUE = f"Bash exited with code '1'. (DEPLOY_TOKEN={ISSUE_SECRET})"
SECRETS: List[Tuple[str, str]] = [(kind, secret) for kind, _, secret in PLANTED] + [("timeline issue", ISSUE_SECRET)]


def planted_line_numbers() -> List[int]:
    """Return the 1-based numbers of the planted lines in PLANTED_LOG."""
    return list(range(5, 5 + len(PLANTED)))
