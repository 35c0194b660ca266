"""Serializers copy their declared fields per instance (CopiedFieldsSerializer): each instance
validates on its own fields, and nothing of one request's validation reaches another's."""

import threading

from apps.ledger.api.serializers import (
    DepositSerializer,
    OwnerSerializer,
    StrictSerializer,
    TagSerializer,
    TypedTokenSerializer,
)


class _Order(StrictSerializer):
    owner = OwnerSerializer()
    reason = TypedTokenSerializer()
    tags = TagSerializer(many=True, required=False, default=list)


def _order(n: int, bad: bool = False) -> dict:
    return {
        "owner": {"type": "user", "id": f"u{n}"},
        "reason": {"type": "order", "token": "" if bad else f"o{n}"},
        "tags": [{"type": "batch", "token": f"t{n}"}, {"type": "n", "token": n}],
    }


def test_each_instance_binds_its_own_copies_and_leaves_the_declared_fields_unbound():
    first, second = DepositSerializer(data={}), DepositSerializer(data={})

    assert first.fields["owner"] is not second.fields["owner"]
    assert first.fields["owner"].parent is first and second.fields["owner"].parent is second
    assert first.fields["owner"].fields["id"] is not second.fields["owner"].fields["id"]
    assert first.fields["tags"].child is not second.fields["tags"].child
    declared = DepositSerializer._declared_fields["owner"]
    assert declared.field_name is None and getattr(declared, "parent", None) is None


def test_validation_results_are_the_same_from_many_threads_at_once():
    expected = {}
    for n in range(40):
        serializer = _Order(data=_order(n, bad=n % 5 == 0))
        expected[n] = (serializer.is_valid(), serializer.errors or serializer.validated_data)
    seen = {}
    barrier = threading.Barrier(8)

    def validate(worker: int) -> None:
        barrier.wait()
        for n in range(worker, 40, 8):
            for _ in range(25):
                serializer = _Order(data=_order(n, bad=n % 5 == 0))
                outcome = (serializer.is_valid(), serializer.errors or serializer.validated_data)
                if outcome != expected[n]:
                    seen[n] = outcome

    threads = [threading.Thread(target=validate, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert seen == {}
    assert expected[0][0] is False and "token" in expected[0][1]["reason"]
    assert expected[1][1]["tags"] == [{"type": "batch", "token": "t1"}, {"type": "n", "token": "1"}]
