import { createHash } from 'node:crypto';

/** How an issuer answers a charge (and, for `atSetup`, a card check when saving the card). */
export interface CardDecline {
  code: string;
  declineCode: string;
  message: string;
  /** Declined already when the card is attached or set up, not only when charged. */
  atSetup: boolean;
}

/**
 * The behaviour of one of Stripe's documented test cards (https://docs.stripe.com/testing).
 * A PaymentMethod created from it remembers the behaviour for every later use.
 */
export interface TestCard {
  /** The suffix of `pm_card_<name>` and `tok_<name>`. */
  name: string;
  number: string;
  brand: 'visa' | 'mastercard' | 'amex' | 'discover';
  funding: 'credit' | 'debit' | 'prepaid';
  country: string;
  decline?: CardDecline;
  /**
   * 3D Secure: `every_payment` asks on every payment, setup included (4000002760003184);
   * `unless_set_up` asks on setup and on payments, except off-session payments once a SetupIntent
   * authenticated the card (4000002500003155).
   */
  authentication?: 'every_payment' | 'unless_set_up';
  /** The charge succeeds and is disputed right after (4000000000000259). */
  disputeAfterCharge?: boolean;
}

const DECLINED = 'Your card was declined.';

const declined = (declineCode: string, atSetup: boolean, message = DECLINED): CardDecline => ({
  code: 'card_declined',
  declineCode,
  message,
  atSetup,
});

const card = (
  name: string,
  number: string,
  brand: TestCard['brand'],
  extra: Partial<TestCard> = {},
): TestCard => ({ name, number, brand, funding: 'credit', country: 'US', ...extra });

/**
 * Which declines happen at setup follows Stripe: a saved card is checked by the issuer, so plainly
 * bad cards fail to attach; `chargeCustomerFail` exists to attach fine and fail later. Insufficient
 * funds is a charge-time answer, so that card attaches too (handy for auto-reload tests).
 */
export const TEST_CARDS: readonly TestCard[] = [
  card('visa', '4242424242424242', 'visa'),
  card('visa_debit', '4000056655665556', 'visa', { funding: 'debit' }),
  card('mastercard', '5555555555554444', 'mastercard'),
  card('mastercard_prepaid', '5105105105105100', 'mastercard', { funding: 'prepaid' }),
  card('amex', '378282246310005', 'amex'),
  card('discover', '6011111111111117', 'discover'),
  card('chargeDeclined', '4000000000000002', 'visa', { decline: declined('generic_decline', true) }),
  card('chargeDeclinedInsufficientFunds', '4000000000009995', 'visa', {
    decline: declined('insufficient_funds', false, 'Your card has insufficient funds.'),
  }),
  card('chargeDeclinedLostCard', '4000000000009987', 'visa', { decline: declined('lost_card', true) }),
  card('chargeDeclinedStolenCard', '4000000000009979', 'visa', { decline: declined('stolen_card', true) }),
  card('chargeDeclinedFraudulent', '4100000000000019', 'visa', { decline: declined('fraudulent', true) }),
  card('chargeDeclinedExpiredCard', '4000000000000069', 'visa', {
    decline: {
      code: 'expired_card',
      declineCode: 'expired_card',
      message: 'Your card has expired.',
      atSetup: true,
    },
  }),
  card('chargeDeclinedIncorrectCvc', '4000000000000127', 'visa', {
    decline: {
      code: 'incorrect_cvc',
      declineCode: 'incorrect_cvc',
      message: "Your card's security code is incorrect.",
      atSetup: true,
    },
  }),
  card('chargeDeclinedProcessingError', '4000000000000119', 'visa', {
    decline: {
      code: 'processing_error',
      declineCode: 'processing_error',
      message: 'An error occurred while processing your card. Try again in a little bit.',
      atSetup: true,
    },
  }),
  card('chargeCustomerFail', '4000000000000341', 'visa', { decline: declined('generic_decline', false) }),
  card('authenticationRequired', '4000002760003184', 'visa', { authentication: 'every_payment' }),
  card('authenticationRequiredOnSetup', '4000002500003155', 'visa', { authentication: 'unless_set_up' }),
  card('threeDSecure2Required', '4000000000003220', 'visa', { authentication: 'every_payment' }),
  card('createDispute', '4000000000000259', 'visa', { disputeAfterCharge: true }),
];

const byName = new Map(TEST_CARDS.map((testCard) => [testCard.name, testCard]));
const byNumber = new Map(TEST_CARDS.map((testCard) => [testCard.number, testCard]));

/** `pm_card_visa` → the visa test card; undefined for anything else. */
export function testCardForPaymentMethodId(id: string): TestCard | undefined {
  return id.startsWith('pm_card_') ? byName.get(id.slice('pm_card_'.length)) : undefined;
}

/** `tok_visa` → the visa test card. */
export function testCardForToken(token: string): TestCard | undefined {
  return token.startsWith('tok_') ? byName.get(token.slice('tok_'.length)) : undefined;
}

export function testCardForNumber(number: string): TestCard | undefined {
  return byNumber.get(number.replace(/[\s-]/g, ''));
}

/** Stable per card number, like Stripe's fingerprint: the same card saved twice is recognisable. */
export function cardFingerprint(testCard: TestCard): string {
  return createHash('sha256').update(testCard.number).digest('base64url').slice(0, 16);
}
