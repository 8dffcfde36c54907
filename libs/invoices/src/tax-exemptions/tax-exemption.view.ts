import { TaxExemptionRecord } from './tax-exemptions.service';

export function taxExemptionView(exemption: TaxExemptionRecord) {
  return {
    id: exemption.id,
    account_id: exemption.account_id,
    status: exemption.status,
    file_name: exemption.file_name,
    content_type: exemption.content_type,
    size_bytes: Number(exemption.size_bytes),
    sha256: exemption.sha256,
    uploaded_at: exemption.uploaded_at.toISOString(),
    reviewed_at: exemption.reviewed_at?.toISOString() ?? null,
    review_note: exemption.review_note,
  };
}
