from apps.giftcards.models import Redemption


def redemptions_for_user(*, user):
    return Redemption.objects.filter(user=user).order_by("-id")
