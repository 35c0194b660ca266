from django.apps import AppConfig


class GiftcardsConfig(AppConfig):
    name = "apps.giftcards"
    label = "giftcards"
    verbose_name = "Gift cards"
