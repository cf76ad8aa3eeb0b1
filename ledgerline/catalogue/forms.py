import json

from django import forms

from ledgerline.accounts.models import Organisation

from .services import revenue_share_max


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class DatasetTermsForm(forms.Form):
    """A dataset's licence terms; editing them applies to models trained afterwards."""

    licence_name = forms.CharField(max_length=200, required=False)
    training_allowed = forms.BooleanField(required=False, initial=True)
    generation_allowed = forms.BooleanField(required=False, initial=True)
    commercial_use = forms.BooleanField(required=False)
    attribution = forms.CharField(max_length=500, required=False)
    revenue_share_percent = forms.DecimalField(min_value=0, max_value=100, decimal_places=2, initial=0)
    territory = forms.CharField(max_length=100, initial="worldwide")
    expires_at = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The service refuses a larger share with the reason (the platform fee and a matched work's share).
        ceiling = revenue_share_max()
        self.fields["revenue_share_percent"].widget.attrs["max"] = str(ceiling)
        self.fields["revenue_share_percent"].help_text = f"At most {ceiling} % (a sale also pays the platform fee)."

    def terms(self) -> dict:
        data = self.cleaned_data
        terms = {
            name: data[name]
            for name in (
                "licence_name",
                "training_allowed",
                "generation_allowed",
                "commercial_use",
                "attribution",
                "territory",
            )
        }
        terms["revenue_share_percent"] = str(data["revenue_share_percent"])
        terms["expires_at"] = data["expires_at"].isoformat() if data["expires_at"] else None
        return json.loads(json.dumps(terms))


class DatasetForm(DatasetTermsForm):
    organisation = forms.ModelChoiceField(queryset=Organisation.objects.none(), to_field_name="slug")
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    is_public = forms.BooleanField(required=False, label="List publicly (creators may train on it)")
    field_order = ["organisation", "name", "description", "is_public"]

    def __init__(self, *args, organisations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = (
            organisations if organisations is not None else Organisation.objects.none()
        )


class DatasetWithdrawForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(label="Withdraw from all future training (models trained before keep working)")


class DatasetItemSearchForm(forms.Form):
    q = forms.CharField(max_length=200, required=False, label="Search title or composer")


class UploadForm(forms.Form):
    files = MultipleFileField()
