import Stripe from 'stripe';

/**
 * The PaymentMethod as Stripe has it now; null when Stripe refuses to read it because it was
 * detached and can never be used again (the stripe test server answers that; Stripe itself
 * returns it with customer null). Throws what the SDK throws when Stripe cannot be asked.
 */
export async function currentPaymentMethod(stripe: Stripe, id: string): Promise<Stripe.PaymentMethod | null> {
  try {
    return await stripe.paymentMethods.retrieve(id);
  } catch (error) {
    if (
      error instanceof Stripe.errors.StripeInvalidRequestError &&
      error.code === 'payment_method_unexpected_state'
    ) {
      return null;
    }
    throw error;
  }
}
