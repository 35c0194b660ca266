from rest_framework import serializers

from apps.identity.models import User


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "external_id", "first_name", "last_name", "country", "language"]
