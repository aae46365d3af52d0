"""The demo users: one per role, all with the published demo password."""

from django.contrib.auth.models import Group, User

from p2p import roles

DEMO_PASSWORD = "demo-p2p-2026"

# username, first name, last name, groups, what the login page says about them
DEMO_USERS = (
    ("rita", "Rita", "Jansen", (roles.REQUESTER,), "requester"),
    ("alex", "Alex", "de Boer", (roles.APPROVER,), "approver"),
    ("bob", "Bob", "Visser", (roles.BUYER,), "buyer"),
    ("carla", "Carla", "Meijer", (roles.AP_CLERK,), "AP clerk"),
    ("martin", "Martin", "Bakker", (roles.AP_MANAGER,), "AP manager"),
    ("fiona", "Fiona", "Smit", (roles.FINANCE_LEADER, roles.APPROVER), "finance leader"),
    ("admin", "Ada", "Admin", (roles.ADMIN,), "administrator"),
)


def ensure_people() -> dict[str, User]:
    """The demo users, one per role, with the shared demo password."""
    people = {}
    for username, first, last, groups, _label in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower()}.{last.lower().replace(' ', '')}@example.com",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = username == "admin"
            user.save()
        user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in groups))
        people[username] = user
    return people
