import '@fastify/multipart';
import { auditActorOf } from '@app/audit';
import {
  AccountIdParam,
  AccountRoute,
  ApiError,
  Caller,
  CurrentCaller,
  refuseUnstorableText,
} from '@app/http';
import { Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { FastifyReply, FastifyRequest } from 'fastify';
import { TaxExemptionsService } from './tax-exemptions.service';
import { taxExemptionView } from './tax-exemption.view';

/** @fastify/multipart's errors (registered in apps/api main.ts) as our stable codes. */
const MULTIPART_ERRORS: Record<string, [number, string, string]> = {
  FST_REQ_FILE_TOO_LARGE: [413, 'document_too_large', 'the document is larger than allowed'],
  FST_FILES_LIMIT: [422, 'one_document_only', 'send exactly one file part'],
  FST_PARTS_LIMIT: [422, 'one_document_only', 'send exactly one file part'],
  FST_INVALID_MULTIPART_CONTENT_TYPE: [
    415,
    'unsupported_media_type',
    'send the document as multipart/form-data',
  ],
};

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/accounts/:id/tax-exemptions')
export class TaxExemptionsController {
  constructor(private readonly exemptions: TaxExemptionsService) {}

  @Post()
  @AccountRoute('billing:manage')
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file'],
      properties: {
        file: { type: 'string', format: 'binary', description: 'The certificate: PDF, PNG or JPEG' },
      },
    },
  })
  @ApiOperation({
    summary:
      'Upload a tax-exemption certificate (multipart/form-data, one file part; PDF, PNG or JPEG up to TAX_EXEMPTION_MAX_BYTES). 201 pending review; 200 when the same document was already submitted. Once an admin approves it, purchases made from then on are not taxed. 413 document_too_large, 415 unsupported_document_type, 422 validation_failed for U+0000 or a lone surrogate in a field or the file name',
  })
  async upload(
    @Param('id', AccountIdParam) accountId: string,
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { fileName, bytes } = await this.readDocument(request);
    const { exemption, created } = await this.exemptions.upload(
      accountId,
      { fileName, bytes },
      auditActorOf(caller),
    );
    void reply.status(created ? 201 : 200);
    return taxExemptionView(exemption);
  }

  @Get()
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: "The account's tax-exemption certificates and their review status, newest first" })
  async list(@Param('id', AccountIdParam) accountId: string) {
    return { tax_exemptions: (await this.exemptions.list(accountId)).map(taxExemptionView) };
  }

  /**
   * The one file part, read whole (it is at most TAX_EXEMPTION_MAX_BYTES). No pipe sees a multipart
   * body, so every part is read and its text checked here, before anything is stored: U+0000 or a
   * lone surrogate in a field's name or value or in the file name is 422 validation_failed, as the
   * global validation pipe answers it in a JSON body.
   */
  private async readDocument(
    request: FastifyRequest,
  ): Promise<{ fileName: string | undefined; bytes: Buffer }> {
    if (!request.isMultipart()) {
      throw new ApiError(
        415,
        'unsupported_media_type',
        'send the document as multipart/form-data with one file part',
      );
    }
    const texts: Record<string, unknown>[] = [];
    let document: { fileName: string; bytes: Buffer } | undefined;
    try {
      const parts = request.parts({ limits: { fileSize: this.exemptions.maxBytes, files: 1, fields: 10 } });
      for await (const part of parts) {
        if (part.type === 'field') {
          texts.push({ [part.fieldname]: part.value });
          continue;
        }
        texts.push({ [part.fieldname]: { filename: part.filename } });
        const bytes = await part.toBuffer();
        // toBuffer can miss a limit hit on the last chunk; busboy's truncated flag is the truth.
        if (part.file.truncated || bytes.length > this.exemptions.maxBytes)
          throw tooLarge(this.exemptions.maxBytes);
        document = { fileName: part.filename, bytes };
      }
    } catch (error) {
      const known = MULTIPART_ERRORS[(error as { code?: string })?.code ?? ''];
      if (!known) throw error;
      if (known[1] === 'document_too_large') throw tooLarge(this.exemptions.maxBytes);
      throw new ApiError(known[0], known[1], known[2]);
    }
    for (const text of texts) refuseUnstorableText(text, 'body');
    if (!document) throw new ApiError(422, 'document_required', 'send the certificate as a file part');
    return document;
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'document_too_large', `the document is larger than ${maxBytes} bytes`, {
    max_bytes: maxBytes,
  });
}
