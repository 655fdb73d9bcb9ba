// Stripe Elements (payment mode "stripe"): the card is typed into Stripe's own iframe and the
// app only ever sees the PaymentMethod id it sends to the API as the token. Stripe.js is loaded
// from js.stripe.com when this mode is configured (the CSP allows it only then).
let loading = null;

function load() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "https://js.stripe.com/v3/";
      script.onload = () => resolve(window.Stripe);
      script.onerror = () => reject(new Error("Stripe.js did not load"));
      document.head.append(script);
    });
  }
  return loading;
}

/** Mounts a card element in ``container``; returns a function that makes the PaymentMethod id. */
export async function cardElement(publishableKey, container, locale) {
  const Stripe = await load();
  const stripe = Stripe(publishableKey, { locale });
  const elements = stripe.elements();
  const card = elements.create("card");
  card.mount(container);
  return async () => {
    const { paymentMethod, error } = await stripe.createPaymentMethod({ type: "card", card });
    if (error) {
      throw { code: "payment_declined", problem: { detail: error.message } };
    }
    return paymentMethod.id;
  };
}
