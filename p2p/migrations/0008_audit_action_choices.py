"""Audit actions are a fixed list (AuditAction).

Choices live in Django's state only: nothing changes in the database, and no stored row is
rewritten (the table refuses UPDATE), which is why every value keeps its existing spelling.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('p2p', '0007_audit_truncate_guard'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('created', 'Created'), ('updated', 'Updated'), ('edited', 'Edited'), ('status', 'Status changed'), ('cancelled', 'Cancelled'), ('attachment_added', 'Attachment added'), ('attached', 'Attachment added (before attachment_added)'), ('attachment removed', 'Attachment removed'), ('rerouted', 'Re-routed'), ('sent to vendor', 'Sent to vendor'), ('re-approval requested', 'Re-approval requested'), ('re-approved', 'Re-approved'), ('re-approval declined', 'Re-approval declined'), ('change order submitted', 'Change order submitted'), ('po change submitted', 'PO change submitted'), ('revised', 'Revised'), ('claimed', 'Claimed'), ('released', 'Released'), ('commented', 'Commented'), ('recoded', 'Re-coded'), ('payment_hold', 'Payment held'), ('payment_hold_released', 'Payment hold released'), ('invoice_added', 'Invoice added to run'), ('invoice_removed', 'Invoice removed from run'), ('bank_file_replaced', 'Bank file replaced'), ('bank_confirmed', 'Bank answer recorded'), ('payment_voided', 'Payment voided'), ('remittance_sent', 'Remittance advice sent'), ('exported_again', 'Bank file exported again'), ('transfer_voided', 'Transfer voided'), ('target_set', 'Target set'), ('target_removed', 'Target removed'), ('actions_saved', 'Actions saved'), ('report_emailed', 'Report emailed'), ('api_token_issued', 'API token issued'), ('api_token_revoked', 'API token revoked'), ('api_tokens_revoked', 'API tokens revoked'), ('mfa_enrolled', 'Two-factor enrolled'), ('mfa_removed', 'Two-factor removed'), ('admin_added', 'Added in the admin'), ('admin_changed', 'Changed in the admin'), ('admin_deleted', 'Deleted in the admin')], max_length=40),
        ),
    ]
