"""How the OpenAPI document describes Khata's two credentials."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Platform services and partners: `Api-Key <key>`. Each endpoint needs one scope.",
        }


class UserTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.authentication.UserTokenAuthentication"
    name = "UserToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "End users: `Token <token>`.",
        }
