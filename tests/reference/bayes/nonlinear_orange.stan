// Orange trees' logistic growth with a random asymptote, written as mejax's bayes: menl
// samples it:
//   circumference_ij = (b1 + U_i) / (1 + exp(-(age_ij - b2) / b3)) + e_ij,
//   U_i = sqrt(var_U) * u_i, u_i ~ N(0, 1) (non-centred), e_ij ~ N(0, sigma2),
// b_k ~ normal(prior_mean[k], prior_sd[k]), var_U ~ inv_gamma(u_shape, u_scale),
// sigma2 ~ inv_gamma(e_shape, e_scale). Stan 2.21 syntax (Debian's rstan).
data {
  int<lower=1> N;
  int<lower=1> J;
  vector[N] age;
  vector[N] y;
  int<lower=1, upper=J> g[N];
  vector[3] prior_mean;
  vector<lower=0>[3] prior_sd;
  real<lower=0> u_shape;
  real<lower=0> u_scale;
  real<lower=0> e_shape;
  real<lower=0> e_scale;
}
parameters {
  vector[3] b;
  real<lower=0> var_U;
  real<lower=0> sigma2;
  vector[J] u;
}
model {
  vector[N] asym = b[1] + sqrt(var_U) * u[g];
  vector[N] mu = asym ./ (1 + exp(-(age - b[2]) / b[3]));
  b ~ normal(prior_mean, prior_sd);
  var_U ~ inv_gamma(u_shape, u_scale);
  sigma2 ~ inv_gamma(e_shape, e_scale);
  u ~ std_normal();
  y ~ normal(mu, sqrt(sigma2));
}
